using System.Globalization;
using System.Text;

namespace Bits.Storage.Azure;

/// <summary>
/// Block ids of staged Fragments: Base64 of 52 ASCII characters, the session key (32 hex digits), the offset (12) and the
/// length (8), so every id on a blob has the same length, a retransmit of a range rewrites the same block, and a commit
/// can be planned from a block listing alone.
/// </summary>
internal static class BlockChain
{
    /// <summary>The session key of a block id of this form, else null.</summary>
    public static string? OwnerOf(string blockId) => TryParse(blockId, out var key, out _, out _) ? key : null;

    public static bool TryParse(string blockId, out string sessionKey, out long offset, out long length)
    {
        sessionKey = string.Empty;
        offset = length = 0;
        Span<byte> raw = stackalloc byte[64];
        if (!Convert.TryFromBase64String(blockId, raw, out var written) || written != AzureBitsUploadStore.BlockIdLength)
        {
            return false;
        }

        var text = Encoding.ASCII.GetString(raw[..written]);
        sessionKey = text[..32];
        return long.TryParse(text.AsSpan(32, 12), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out offset)
            && long.TryParse(text.AsSpan(44, 8), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out length)
            && length > 0;
    }

    /// <summary>
    /// The fewest blocks of <paramref name="sessionKey"/> that cover [0, <paramref name="total"/>) end to end, in order;
    /// null when there is no such chain (a hole). Every block of a session holds the client's bytes of its range, so any
    /// chain is the file; the shortest is found breadth-first over offsets.
    /// </summary>
    public static List<string>? Find(IEnumerable<string> blockIds, string sessionKey, long total)
    {
        var starting = new Dictionary<long, List<(long End, string Id)>>();
        foreach (var id in blockIds)
        {
            if (TryParse(id, out var key, out var offset, out var length) && key == sessionKey && offset + length <= total)
            {
                if (!starting.TryGetValue(offset, out var list))
                {
                    starting[offset] = list = [];
                }

                list.Add((offset + length, id));
            }
        }

        var parent = new Dictionary<long, (long From, string Id)>();
        var queue = new Queue<long>();
        queue.Enqueue(0);
        while (queue.Count > 0 && !parent.ContainsKey(total))
        {
            var at = queue.Dequeue();
            foreach (var (end, id) in starting.GetValueOrDefault(at) ?? [])
            {
                if (end != 0 && parent.TryAdd(end, (at, id)))
                {
                    queue.Enqueue(end);
                }
            }
        }

        if (!parent.ContainsKey(total))
        {
            return null;
        }

        var chain = new List<string>();
        for (var at = total; at != 0; at = parent[at].From)
        {
            chain.Add(parent[at].Id);
        }

        chain.Reverse();
        return chain;
    }
}
