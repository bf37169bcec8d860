using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace CopilotGuard.Policy;

/// <summary>Reads a data-folder YAML file (directory, agents, destinations, attributes) as one root mapping: a syntax
/// error or another shape becomes a <see cref="PolicyValidationException"/> naming the file (and the line).</summary>
internal static class YamlFile
{
    /// <summary>Parses one document whose root is a mapping.</summary>
    /// <param name="name">The file name errors carry.</param>
    /// <param name="yaml">The text.</param>
    /// <param name="shape">What the file should be, said when it is not (e.g. "a directory file is a mapping with ...").</param>
    public static YamlMappingNode ReadMapping(string name, string yaml, string shape)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException exception)
        {
            throw new PolicyValidationException([new PolicyError(name, (int)exception.Start.Line, null, $"not valid YAML: {exception.Message}")]);
        }

        return stream.Documents.Count == 1 && stream.Documents[0].RootNode is YamlMappingNode root
            ? root
            : throw new PolicyValidationException([new PolicyError(name, 0, null, shape)]);
    }

    /// <summary>Parses one document whose root is a mapping holding a list under <paramref name="listKey"/>.</summary>
    public static (YamlMappingNode Root, YamlSequenceNode List) ReadMappingWithList(string name, string yaml, string listKey, string shape)
    {
        var root = ReadMapping(name, yaml, shape);
        return root.Children.TryGetValue(new YamlScalarNode(listKey), out var node) && node is YamlSequenceNode list
            ? (root, list)
            : throw new PolicyValidationException([new PolicyError(name, 0, null, shape)]);
    }
}
