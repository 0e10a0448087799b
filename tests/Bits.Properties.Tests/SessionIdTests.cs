using Bits.Protocol;

namespace Bits.Properties.Tests;

/// <summary>Session ids cannot be guessed: 128 bits from a CSPRNG, none fixed.</summary>
public class SessionIdTests
{
    [Fact]
    public void NewIds_AreCanonicalUnique_AndEveryOneOfTheir128BitsVaries()
    {
        const int count = 4096;
        var ids = Enumerable.Range(0, count).Select(_ => BitsSessionIds.NewId()).ToList();
        var ones = new int[128];
        foreach (var id in ids)
        {
            Assert.True(BitsSessionIds.TryNormalize(id, out var normalized) && normalized == id, id);
            var bytes = Guid.Parse(id).ToByteArray();
            for (var bit = 0; bit < 128; bit++)
            {
                ones[bit] += (bytes[bit / 8] >> (bit % 8)) & 1;
            }
        }

        Assert.Equal(count, ids.Distinct(StringComparer.Ordinal).Count());

        // A version-4 GUID (Guid.NewGuid) fixes 6 of its bits; these must all be random (binomial sd ≈ 0.008 here).
        Assert.All(ones, n => Assert.InRange(n / (double)count, 0.40, 0.60));
    }
}
