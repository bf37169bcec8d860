namespace CopilotGuard.Extensions.AI.Tests;

public sealed class GroundingPromptTests
{
    [Theory]
    [InlineData("No citation here.", 3, new int[0])]
    [InlineData("First [2], then [1].", 3, new[] { 2, 1 })]
    [InlineData("Both [1, 3] and again [3][1].", 3, new[] { 1, 3 })]
    [InlineData("Out of range [0] [4] [12].", 3, new int[0])]
    [InlineData("Not a citation: [a] [1.5] array[ 2 ].", 3, new[] { 2 })]
    public void CitedNumbers_ParsesMarkersWithinRange(string text, int count, int[] expected)
    {
        Assert.Equal(expected, GroundingPrompt.CitedNumbers(text, count));
    }

    [Fact]
    public void CreateMessage_NoChunks_SaysThereIsNoSource()
    {
        var message = GroundingPrompt.CreateMessage("Use the sources.", []);

        Assert.Contains(GroundingPrompt.NoSourcesNote, message.Text, StringComparison.Ordinal);
    }
}
