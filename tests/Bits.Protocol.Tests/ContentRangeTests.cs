namespace Bits.Protocol.Tests;

public class ContentRangeTests
{
    [Theory]
    [InlineData("bytes 0-4891/4892", 0, 4891, 4892)]
    [InlineData("Bytes 128-212/4892", 128, 212, 4892)]
    [InlineData("BYTES 0-0/1", 0, 0, 1)]
    [InlineData("bytes 9223372036854775805-9223372036854775806/9223372036854775807", 9223372036854775805, 9223372036854775806, 9223372036854775807)]
    public void TryParse_ValidRange_ReturnsBounds(string header, long first, long last, long total)
    {
        Assert.True(ContentRange.TryParse(header, out var range, out var problem), problem);
        Assert.Equal(new ContentRange(first, last, total), range);
        Assert.Equal(last - first + 1, range.Length);
    }

    [Theory]
    [InlineData("bytes */0")]
    [InlineData("bytes 0--1/0")]
    [InlineData("bytes 0-0/0")]
    public void TryParse_EmptyUpload_IsZeroLength(string header)
    {
        Assert.True(ContentRange.TryParse(header, out var range, out _));
        Assert.True(range.IsEmptyUpload);
        Assert.Equal(0, range.Length);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("bytes")]
    [InlineData("bits 0-1/2")]
    [InlineData("bytes 0-1")]
    [InlineData("bytes 5-4/10")]
    [InlineData("bytes 0-10/10")]
    [InlineData("bytes -1-4/10")]
    [InlineData("bytes +1-4/10")]
    [InlineData("bytes 0-4/ten")]
    [InlineData("bytes 0-99999999999999999999/100000000000000000000")]
    [InlineData("bytes 0-9223372036854775807/9223372036854775808")]
    [InlineData("bytes 1 -4/10")]
    [InlineData("bytes 0x1-4/10")]
    [InlineData("bytes 0-4/10/12")]
    [InlineData("bytes 1-2/0")]
    [InlineData("bytes */10")]
    [InlineData("bytes 0-٣/10")]
    public void TryParse_Garbage_IsRejected(string? header)
    {
        Assert.False(ContentRange.TryParse(header, out _, out var problem));
        Assert.False(string.IsNullOrEmpty(problem));
    }
}
