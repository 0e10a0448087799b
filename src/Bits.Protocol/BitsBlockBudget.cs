namespace Bits.Protocol;

/// <summary>
/// The per-blob block limits of block-blob storage, and the decision a store that stages one block per Fragment makes
/// before each Fragment: stage it as a block of its own, or coalesce it (append it to a segment that moves into the blob
/// as one block once it holds <see cref="SegmentBytes"/>). See docs/architecture.md, "Limits and coalescing".
/// </summary>
/// <param name="MaxCommittedBlocks">Blocks one commit may name (Azure: 50,000).</param>
/// <param name="MaxUncommittedBlocks">Uncommitted blocks one blob may hold, shared by every session staging on it (Azure: 100,000).</param>
/// <param name="SegmentBytes">Bytes a coalescing segment collects before it moves in as one block (64 MiB; a move copies at most this plus the Fragment that crossed it).</param>
public sealed record BitsBlockBudget(int MaxCommittedBlocks, int MaxUncommittedBlocks, long SegmentBytes)
{
    /// <summary>Azure Blob Storage's limits and a 64 MiB segment.</summary>
    public static BitsBlockBudget Azure { get; } = new(50_000, 100_000, 64L * 1024 * 1024);

    /// <summary>
    /// The blocks one session may use: its commit's limit, and at most half the blob's uncommitted limit, so that two
    /// sessions staging on one destination never exhaust it between them; one of them is kept for the tail segment.
    /// </summary>
    public int SessionBlocks => Math.Min(MaxCommittedBlocks, MaxUncommittedBlocks / 2) - 1;

    /// <summary>
    /// True when a Fragment of <paramref name="length"/> bytes at <paramref name="offset"/>, for a session that has used
    /// <paramref name="blocksUsed"/> blocks of a file of <paramref name="total"/> bytes, must be coalesced: staging it as a
    /// block of its own would leave too few blocks for the bytes after it even if all of those were coalesced into full
    /// segments. Fragments go in as blocks of their own as long as possible (the late switch copies the fewest bytes, and
    /// stays right when the client's fragments shrink later), so a file that fits the budget at its fragment size never
    /// coalesces: a 256 MiB file in 1 MiB fragments uses 256 of 49,999 blocks.
    /// </summary>
    public bool ShouldCoalesce(long blocksUsed, long offset, long length, long total)
    {
        var after = Math.Max(0, total - offset - length);
        var segmentsAfter = (after + SegmentBytes - 1) / SegmentBytes;
        return blocksUsed + 1 + segmentsAfter > SessionBlocks;
    }
}
