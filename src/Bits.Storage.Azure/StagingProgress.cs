using System.Globalization;

namespace Bits.Storage.Azure;

/// <summary>
/// What a session's row says about its staging beyond the received length: the blocks its chain has used so far and,
/// once it coalesces, the file offset where its open segment begins. Carried in <see cref="Bits.Protocol.BitsSession.StoreState"/>
/// as <c>blocks</c>, <c>blocks/&lt;blocks&gt;</c> or <c>blocks/&lt;blocks&gt;/&lt;segment&gt;</c> (the layout first), so a
/// Fragment through the session cache needs no read; stored in the row as <c>Layout</c>, <c>Blocks</c> and <c>Segment</c>.
/// </summary>
/// <param name="Blocks">Blocks recorded for the session's chain: Fragments staged as blocks of their own plus moved segments.</param>
/// <param name="Segment">Start of the open segment once the session coalesces (never cleared again); null before.</param>
internal readonly record struct StagingProgress(long Blocks, long? Segment)
{
    /// <summary>Parses a session's store state; false for rows of an earlier layout (append segments, no <c>blocks</c>).</summary>
    public static bool TryParse(string? storeState, out StagingProgress progress)
    {
        progress = default;
        var parts = (storeState ?? string.Empty).Split('/');
        if (parts[0] != AzureBitsUploadStore.BlocksLayout || parts.Length > 3)
        {
            return false;
        }

        long blocks = 0, segment = 0;
        var ok = (parts.Length < 2 || long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out blocks))
            && (parts.Length < 3 || long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out segment));
        progress = new StagingProgress(blocks, parts.Length == 3 ? segment : null);
        return ok;
    }

    public string Format() => Segment is { } segment
        ? string.Create(CultureInfo.InvariantCulture, $"{AzureBitsUploadStore.BlocksLayout}/{Blocks}/{segment}")
        : Blocks == 0 ? AzureBitsUploadStore.BlocksLayout : string.Create(CultureInfo.InvariantCulture, $"{AzureBitsUploadStore.BlocksLayout}/{Blocks}");
}
