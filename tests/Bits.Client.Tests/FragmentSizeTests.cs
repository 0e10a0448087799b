using Bits.Client.Tests.Infrastructure;
using static Bits.Client.Tests.Infrastructure.TestRig;

namespace Bits.Client.Tests;

public class FragmentSizeTests
{
    [Fact]
    public async Task UploadAsync_413_ShrinksFragments()
    {
        var rig = new TestRig(o =>
        {
            o.InitialFragmentBytes = 64 * 1024;
            o.MinFragmentBytes = 5 * 1024;
        });
        rig.Server.MaxFragmentBody = 10_000;
        var data = RandomBytes(50_000);

        var result = await rig.UploadAsync(data);

        Assert.Equal(data, rig.Server.SinglePublished);
        var lengths = rig.Handler.Packets("Fragment").Select(f => f.Body.Length).ToList();
        Assert.Equal([50_000, 25_000, 12_500, 6_250], lengths.Take(4));
        Assert.All(lengths.Skip(4), l => Assert.True(l <= 6_250));
        Assert.Equal(6_250, result.FinalFragmentBytes);
        Assert.Equal(data.Length, lengths.Skip(3).Sum());
    }

    [Fact]
    public async Task UploadAsync_413_NeverShrinksBelowMinimum()
    {
        var rig = new TestRig(o =>
        {
            o.InitialFragmentBytes = 12 * 1024;
            o.MinFragmentBytes = 5 * 1024;
        });
        rig.Server.MaxFragmentBody = 5 * 1024;
        var data = RandomBytes(30_000);

        var result = await rig.UploadAsync(data);

        Assert.Equal(data, rig.Server.SinglePublished);
        Assert.Equal(5 * 1024, result.FinalFragmentBytes);
        Assert.All(rig.Handler.Packets("Fragment").Skip(2), f => Assert.True(f.Body.Length <= 5 * 1024));
    }

    [Fact]
    public async Task UploadAsync_413_AtMinimumSize_IsFatal()
    {
        var rig = new TestRig(o =>
        {
            o.InitialFragmentBytes = 8 * 1024;
            o.MinFragmentBytes = 4 * 1024;
        });
        rig.Server.MaxFragmentBody = 1000;

        var ex = await Assert.ThrowsAsync<BitsUploadException>(() => rig.UploadAsync(RandomBytes(20_000)));

        Assert.Equal(413, ex.StatusCode);
        Assert.Equal("BG_E_HTTP_ERROR_413", ex.ErrorName);
        Assert.Equal([8192, 4096], rig.Handler.Packets("Fragment").Select(f => f.Body.Length));
        Assert.Contains("413", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UploadAsync_InitialFragmentSize_IsClampedToMaximum()
    {
        var rig = new TestRig(o =>
        {
            o.InitialFragmentBytes = 1_000_000;
            o.MaxFragmentBytes = 10_000;
        });
        var data = RandomBytes(25_000);

        await rig.UploadAsync(data);

        Assert.Equal([10_000, 10_000, 5_000], rig.Handler.Packets("Fragment").Select(f => f.Body.Length));
    }

    [Fact]
    public async Task UploadAsync_InvalidFragmentOptions_Throws()
    {
        var rig = new TestRig(o => o.MinFragmentBytes = o.MaxFragmentBytes + 1);

        await Assert.ThrowsAsync<ArgumentException>(() => rig.UploadAsync(RandomBytes(10)));
    }
}
