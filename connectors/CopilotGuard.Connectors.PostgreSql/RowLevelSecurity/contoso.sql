-- Row-level security for the Contoso sample policy bundle (samples/policies/contoso.yaml), on the tables of a
-- PostgreSqlChunkStore created with RowLevelSecurity = true. A second line of defence: even if the filter the broker
-- pushes down were wrong (say, `true`), the database returns no chunk the policy denies to the caller.
--
-- The caller comes from the transaction-local setting copilotguard.principal, which the store sets (as a parameter)
-- before every search: {"principals":[{"id","kind","attributes":{name:[values]}}],"request":{name:[values]}}, labels
-- as ranks (Public 0, General 1, Confidential 2, Highly Confidential 3; a sublabel has its parent's rank). A row is
-- visible only when every listed principal passes (an agent acting for a user sees what both may see) and there is
-- at least one; with no setting, nothing is visible.
--
-- Semantics follow the policy engine: default deny; an allow rule grants only when it is definitely true; a deny rule
-- denies unless it is definitely false (a missing attribute makes it unknown, which denies); deny overrides allow.
-- Keep this file in step with contoso.yaml: tests/CopilotGuard.Connectors.PostgreSql.Tests compare it, rule for rule,
-- with the engine's reference evaluator.
--
-- Run as the owner of the store's tables, with the store's schema first on the search path, e.g.
--   PGOPTIONS='-c search_path=copilotguard' psql -v ON_ERROR_STOP=1 -1 -f contoso.sql
-- The broker searches as copilotguard_reader and ingestion writes as copilotguard_ingest; neither may be a superuser
-- or have BYPASSRLS, which skip every policy. Give them passwords (or other authentication) as your cluster requires.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'copilotguard_reader') THEN
        CREATE ROLE copilotguard_reader LOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'copilotguard_ingest') THEN
        CREATE ROLE copilotguard_ingest LOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO copilotguard_reader, copilotguard_ingest', current_schema());
END $$;

GRANT SELECT ON chunks, chunk_attributes, store_meta TO copilotguard_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON chunks, chunk_attributes TO copilotguard_ingest;
GRANT SELECT, UPDATE ON store_meta TO copilotguard_ingest;

-- One principal against one chunk. Arguments: the principal object, the request object, the chunk's source, label
-- rank, and the UTF-8 bytes of its `account` and `patient` string values (NULL when it has none). A principal's
-- accounts and patients match only as JSON strings: the number 5 is not the account "5" (typed comparison). A
-- non-string account or patient grants nothing here (the caller JSON writes labels, numbers and timestamps alike as
-- numbers, so their kinds cannot be told apart): narrower than the engine for such values, never wider.
CREATE OR REPLACE FUNCTION contoso_allows_principal(p jsonb, request jsonb, source text, label double precision, accounts bytea[], patients bytea[])
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(
               -- kb-general-for-everyone
               ($3 = 'kb' AND $4 <= 1 AND $1->>'kind' = 'user')
               -- kb-runbooks-for-support
            OR ($3 = 'kb' AND $1->'attributes'->'department' @> '["Support"]')
               -- agents-registered-sources
            OR ($1->>'kind' = 'agent' AND $1->'attributes'->'sources' @> jsonb_build_array($3))
               -- engineering-docs-for-engineering-and-support
            OR ($3 = 'engineering' AND $1->'attributes'->'department' ?| ARRAY['Engineering', 'Support'])
               -- marketing-for-marketing
            OR ($3 = 'marketing' AND $1->'attributes'->'department' @> '["Marketing"]')
               -- marketing-public-for-everyone
            OR ($3 = 'marketing' AND $4 = 0 AND $1->>'kind' = 'user')
               -- hr-for-hr
            OR ($3 = 'hr' AND $1->'attributes'->'department' @> '["HR"]')
               -- payroll-for-payroll
            OR ($3 = 'payroll' AND $1->'attributes'->'roles' @> '["payroll"]')
               -- payroll-for-hr-partners
            OR ($3 = 'payroll' AND $1->'attributes'->'roles' @> '["hr-partner"]')
               -- support-tickets-for-assigned-engineers
            OR ($3 = 'support' AND $1->'attributes'->'roles' @> '["support-engineer"]'
                AND EXISTS (SELECT 1 FROM jsonb_array_elements($1->'attributes'->'accounts') a WHERE jsonb_typeof(a) = 'string' AND convert_to(a #>> '{}', 'UTF8') = ANY ($5)))
               -- clinical-for-treating-clinician
            OR ($3 = 'clinical' AND $1->'attributes'->'roles' @> '["clinician"]'
                AND EXISTS (SELECT 1 FROM jsonb_array_elements($1->'attributes'->'patients') a WHERE jsonb_typeof(a) = 'string' AND convert_to(a #>> '{}', 'UTF8') = ANY ($6)))
               -- transactions-for-fraud-analysts
            OR ($3 = 'transactions' AND $1->'attributes'->'roles' @> '["fraud-analyst"]'),
           false)
       -- agents-nothing-else
       AND ($1->>'kind' = 'agent' AND NOT ($1->'attributes'->'sources' @> jsonb_build_array($3))) IS FALSE
       -- clearance-ceiling
       AND ($4 > (SELECT min(c::double precision) FROM jsonb_array_elements_text($1->'attributes'->'clearance') c)) IS FALSE
       -- external-destination-ceiling
       AND (NOT ($2->'destination' @> '["internal"]') AND $4 >= 2) IS FALSE
       -- phi-never-external
       AND (NOT ($2->'destination' @> '["internal"]') AND $3 = 'clinical') IS FALSE
$$;

-- The caller (every principal) against one chunk, reading its attributes; the search path is pinned at creation.
-- Only values of the kind a rule compares with are read (kind 3 label, kind 0 string): a number 5 is not the account
-- "5", and an empty-list marker row (kind -1) is no value.
CREATE OR REPLACE FUNCTION contoso_allows(chunk bigint, source text)
RETURNS boolean LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    WITH caller AS (SELECT nullif(current_setting('copilotguard.principal', true), '')::jsonb AS j),
         resource AS (
             SELECT (SELECT min(a.num) FROM chunk_attributes a WHERE a.chunk_key = $1 AND a.name = 'label' AND a.kind = 3) AS label,
                    nullif(ARRAY(SELECT a.value FROM chunk_attributes a WHERE a.chunk_key = $1 AND a.name = 'account' AND a.kind = 0), '{}') AS accounts,
                    nullif(ARRAY(SELECT a.value FROM chunk_attributes a WHERE a.chunk_key = $1 AND a.name = 'patient' AND a.kind = 0), '{}') AS patients)
    SELECT coalesce(jsonb_array_length(c.j->'principals') > 0, false)
       AND NOT EXISTS (
           SELECT 1 FROM jsonb_array_elements(c.j->'principals') p
           WHERE contoso_allows_principal(p, coalesce(c.j->'request', '{}'), $2, r.label, r.accounts, r.patients) IS NOT TRUE)
    FROM caller c, resource r
$$;

ALTER TABLE chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE chunks FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS contoso_read ON chunks;
CREATE POLICY contoso_read ON chunks FOR SELECT TO copilotguard_reader USING (contoso_allows(chunk_key, source));
DROP POLICY IF EXISTS copilotguard_ingest ON chunks;
CREATE POLICY copilotguard_ingest ON chunks FOR ALL TO copilotguard_ingest USING (true) WITH CHECK (true);
