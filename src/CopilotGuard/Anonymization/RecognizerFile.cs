using System.Collections.Immutable;
using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace CopilotGuard.Anonymization;

/// <summary>Reads custom recognizers from <c>recognizers.yaml</c> (regex + validator + context words + score),
/// validating every entry at once so a bad file stops start-up with each problem and its line.</summary>
/// <remarks>Format: <c>apiVersion: copilotguard/v1</c> and <c>recognizers:</c>, a list of
/// <c>{name, entity, pattern, score?, validator?, contextWords?, ignoreCase?}</c>; validators are those of
/// <see cref="CustomRecognizers.ValidatorNames"/>.</remarks>
public static class RecognizerFile
{
    private static readonly ImmutableHashSet<string> Keys = ["name", "entity", "pattern", "score", "validator", "contextWords", "ignoreCase"];

    /// <summary>Reads and validates a recognizers file and builds the recognizer.</summary>
    /// <exception cref="AnonymizationConfigurationException">The file is invalid; <see cref="AnonymizationConfigurationException.Errors"/> lists every problem.</exception>
    public static async Task<IEntityRecognizer> LoadAsync(string path, CancellationToken cancellationToken) =>
        Parse(Path.GetFileName(path), await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false));

    /// <summary>Parses and validates recognizer definitions from YAML text and builds the recognizer.</summary>
    /// <exception cref="AnonymizationConfigurationException">The text is invalid.</exception>
    public static IEntityRecognizer Parse(string name, string yaml)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException exception)
        {
            throw new AnonymizationConfigurationException([$"{name}:{exception.Start.Line}: not valid YAML: {exception.Message}"]);
        }

        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root
            || !root.Children.TryGetValue(new YamlScalarNode("recognizers"), out var listNode) || listNode is not YamlSequenceNode list)
        {
            throw new AnonymizationConfigurationException([$"{name}: a recognizers file is a mapping with a 'recognizers' list"]);
        }

        var errors = new List<string>();
        var definitions = new List<CustomRecognizerDefinition>();
        foreach (var node in list)
        {
            var line = node.Start.Line;
            if (node is not YamlMappingNode map)
            {
                errors.Add($"{name}:{line}: each recognizer is a mapping with name, entity and pattern");
                continue;
            }

            foreach (var key in map.Children.Keys.OfType<YamlScalarNode>().Where(static k => !Keys.Contains(k.Value ?? string.Empty)))
            {
                errors.Add($"{name}:{key.Start.Line}: unknown field '{key.Value}'; expected one of {string.Join(", ", Keys.Order(StringComparer.Ordinal))}");
            }

            var score = 0.6;
            if (Scalar(map, "score") is { } scoreText && !double.TryParse(scoreText, NumberStyles.Float, CultureInfo.InvariantCulture, out score))
            {
                errors.Add($"{name}:{line}: score must be a number between 0 and 1");
            }

            definitions.Add(new CustomRecognizerDefinition(Scalar(map, "name") ?? string.Empty, Scalar(map, "entity") ?? string.Empty, Scalar(map, "pattern") ?? string.Empty, score)
            {
                Validator = Scalar(map, "validator") ?? "none",
                ContextWords = map.Children.TryGetValue(new YamlScalarNode("contextWords"), out var words) && words is YamlSequenceNode sequence
                    ? [.. sequence.Children.OfType<YamlScalarNode>().Select(static w => w.Value ?? string.Empty)]
                    : [],
                IgnoreCase = Scalar(map, "ignoreCase") == "true",
            });
        }

        errors.AddRange(CustomRecognizers.Validate(definitions).Select(error => $"{name}: {error}"));
        if (errors.Count > 0)
        {
            throw new AnonymizationConfigurationException(errors);
        }

        return CustomRecognizers.Create(definitions);
    }

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlScalarNode scalar ? scalar.Value : null;
}
