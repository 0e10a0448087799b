using Bits.Client.Tests.Infrastructure;
using static Bits.Client.Tests.Infrastructure.TestRig;

namespace Bits.Client.Tests;

public class FragmentPlannerTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public async Task UploadAsync_PlannerInjectsRetransmitsOverlapsAndGaps_ModelHasIdenticalBytes(int seed)
    {
        var data = RandomBytes(300_000, seed);
        var random = new Random(seed);
        var rig = new TestRig(o => o.FragmentPlanner = request =>
        {
            var length = random.Next(1, (int)request.SuggestedLength * 2);
            return random.Next(6) switch
            {
                0 => new FragmentPlan(Math.Max(0, request.NextOffset - random.Next(1, 40_000)), length),          // overlap or duplicate
                1 => new FragmentPlan(request.NextOffset + random.Next(1, 20_000), length),                      // gap → 416
                2 => new FragmentPlan(Math.Max(0, request.NextOffset - length), length),                          // pure duplicate
                _ => new FragmentPlan(request.NextOffset, length),                                               // in order
            };
        });

        var result = await rig.UploadAsync(data);

        Assert.Equal(data, rig.Server.SinglePublished);
        Assert.True(result.Retransmits > 0);
        Assert.Equal(rig.Handler.Packets("Fragment").Count(), result.FragmentsSent);
    }

    [Fact]
    public async Task UploadAsync_PlannerSeesServerOffsetsAndIndices()
    {
        var seen = new List<FragmentRequest>();
        var rig = new TestRig(o => o.FragmentPlanner = request =>
        {
            seen.Add(request);
            return request.FragmentIndex == 1
                ? new FragmentPlan(request.NextOffset + 10, 100) // a gap: answered 416 with R
                : new FragmentPlan(request.NextOffset, request.SuggestedLength);
        });
        var data = RandomBytes(40_000);

        var result = await rig.UploadAsync(data);

        Assert.Equal(data, rig.Server.SinglePublished);
        Assert.Equal(new FragmentRequest(0, 40_000, 16 * 1024, 0), seen[0]);
        Assert.Equal(new FragmentRequest(16 * 1024, 40_000, 16 * 1024, 1), seen[1]);
        Assert.Equal(new FragmentRequest(16 * 1024, 40_000, 16 * 1024, 2), seen[2]);
        Assert.Equal(1, result.Retransmits);
    }

    [Fact]
    public async Task UploadAsync_PlanOutsideFile_IsClampedIntoRange()
    {
        var rig = new TestRig(o => o.FragmentPlanner = request => request.FragmentIndex switch
        {
            0 => new FragmentPlan(-50, 100),            // clamped to 0..99
            1 => new FragmentPlan(request.NextOffset, 1_000_000), // clamped to the end of the file
            _ => new FragmentPlan(request.NextOffset, 0),
        });
        var data = RandomBytes(5000);

        await rig.UploadAsync(data);

        Assert.Equal(data, rig.Server.SinglePublished);
        Assert.Equal(["bytes 0-99/5000", "bytes 100-4999/5000"], rig.Handler.Packets("Fragment").Select(f => f.ContentRange));
    }
}
