namespace Bits.Protocol.Tests;

/// <summary>The coalescing decision (docs/architecture.md, "Limits and coalescing").</summary>
public sealed class BlockBudgetTests
{
    private const long MiB = 1024 * 1024;

    /// <summary>Walks a file through the decision as a session would: blocks of their own, then full segments.</summary>
    private static (long Blocks, long CoalescedBytes) Walk(BitsBlockBudget budget, long total, long fragment)
    {
        long blocks = 0, coalesced = 0, segment = 0;
        var coalescing = false;
        for (long offset = 0; offset < total; offset += fragment)
        {
            var length = Math.Min(fragment, total - offset);
            coalescing |= budget.ShouldCoalesce(blocks, offset, length, total);
            if (!coalescing)
            {
                blocks++;
                continue;
            }

            coalesced += length;
            segment += length;
            if (segment >= budget.SegmentBytes || offset + length == total)
            {
                blocks++;
                segment = 0;
            }
        }

        return (blocks, coalesced);
    }

    [Fact]
    public void A256MiBFileIn1MiBFragments_NeverCoalesces()
    {
        var budget = BitsBlockBudget.Azure;
        for (long offset = 0, blocks = 0; offset < 256 * MiB; offset += MiB, blocks++)
        {
            Assert.False(budget.ShouldCoalesce(blocks, offset, MiB, 256 * MiB));
        }

        Assert.Equal((256, 0), Walk(budget, 256 * MiB, MiB));
    }

    [Theory]
    [InlineData(4L * 1024, 1)] // 4 GiB in 1 MiB fragments: 4,096 blocks
    [InlineData(40L * 1024, 1)] // 40 GiB in 1 MiB fragments: 40,960 blocks, within 49,999
    public void AFileWithinTheBudgetAtItsFragmentSize_NeverCoalesces(long mebibytes, long fragmentMebibytes) =>
        Assert.Equal(0, Walk(BitsBlockBudget.Azure, mebibytes * MiB, fragmentMebibytes * MiB).CoalescedBytes);

    [Theory]
    [InlineData(1L * 1024 * MiB, 5 * 1024)] // 1 GiB in 5 KiB fragments: 209,716 fragments
    [InlineData(100L * 1024 * MiB, MiB)] // 100 GiB in 1 MiB fragments: 102,400 fragments
    [InlineData(2L * 1024 * 1024 * MiB, 13 * 1000 * 1000)] // 2 TiB in 13 MB fragments
    public void AFileOfMoreFragmentsThanTheLimitsAllow_StaysWithinTheBudget_AndCoalescesOnlyTheEnd(long total, long fragment)
    {
        var budget = BitsBlockBudget.Azure;
        var (blocks, coalesced) = Walk(budget, total, fragment);

        Assert.True(blocks <= budget.SessionBlocks + 1, $"{blocks} blocks");
        Assert.True(blocks <= budget.MaxCommittedBlocks && blocks <= budget.MaxUncommittedBlocks / 2);
        Assert.True(coalesced < total, "only the end is coalesced");
    }

    [Fact]
    public void TheSessionBudget_IsHalfTheUncommittedLimit_WhenThatIsSmaller() =>
        Assert.Equal(11, new BitsBlockBudget(MaxCommittedBlocks: 20, MaxUncommittedBlocks: 24, SegmentBytes: 64 * 1024).SessionBlocks);
}
