using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Bits.Cli;

/// <summary>What identifies the content of a source file cheaply: size, last write time and a hash of its ends.</summary>
public sealed record SourceFingerprint(long Size, DateTime LastWriteTimeUtc, string Sha256FirstLastMiB)
{
    /// <summary>Bytes hashed at each end of the file.</summary>
    public const int EdgeBytes = 1024 * 1024;

    /// <summary>SHA-256 over the first MiB followed by the last MiB (the whole file when it is smaller; the ends may overlap).</summary>
    public static SourceFingerprint Of(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.None);
        var size = stream.Length;
        var lastWrite = File.GetLastWriteTimeUtc(path);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[(int)Math.Min(EdgeBytes, size)];
        stream.ReadExactly(buffer);
        hash.AppendData(buffer);
        stream.Seek(size - buffer.Length, SeekOrigin.Begin);
        stream.ReadExactly(buffer);
        hash.AppendData(buffer);
        return new SourceFingerprint(size, lastWrite, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }
}

/// <summary>
/// The state file of an interrupted upload (<c>&lt;file&gt;.bits-state.json</c>): the upload URL, the BITS session and
/// the source's fingerprint. It holds no credentials (the URL's query string is kept as given).
/// </summary>
public sealed record UploadState
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;

    public required string Url { get; init; }

    public required string SessionId { get; init; }

    public required string File { get; init; }

    public required long Size { get; init; }

    public required DateTime LastWriteTimeUtc { get; init; }

    public required string Sha256FirstLastMiB { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>The server's last acknowledged offset when the upload stopped (informational; the server's word counts).</summary>
    public long? BytesAcknowledged { get; init; }

    [JsonIgnore]
    public SourceFingerprint Fingerprint => new(Size, LastWriteTimeUtc, Sha256FirstLastMiB);

    public static UploadState Create(Uri url, string sessionId, string file, SourceFingerprint fingerprint, DateTimeOffset now) => new()
    {
        Url = url.AbsoluteUri,
        SessionId = sessionId,
        File = file,
        Size = fingerprint.Size,
        LastWriteTimeUtc = fingerprint.LastWriteTimeUtc,
        Sha256FirstLastMiB = fingerprint.Sha256FirstLastMiB,
        CreatedAt = now,
        UpdatedAt = now,
    };

    public bool Matches(SourceFingerprint fingerprint) =>
        Size == fingerprint.Size
        && LastWriteTimeUtc.ToUniversalTime() == fingerprint.LastWriteTimeUtc
        && string.Equals(Sha256FirstLastMiB, fingerprint.Sha256FirstLastMiB, StringComparison.OrdinalIgnoreCase);

    /// <summary>Reads a state file; null when it does not exist. Throws <see cref="InvalidDataException"/> when it is not one.</summary>
    public static UploadState? Load(string path)
    {
        if (!System.IO.File.Exists(path))
        {
            return null;
        }

        try
        {
            var state = JsonSerializer.Deserialize(System.IO.File.ReadAllText(path), StateJsonContext.Default.UploadState);
            if (state is null || state.Version != CurrentVersion || string.IsNullOrWhiteSpace(state.SessionId) || !Uri.TryCreate(state.Url, UriKind.Absolute, out _))
            {
                throw new InvalidDataException($"{path} is not a bits state file of version {CurrentVersion}.");
            }

            return state;
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{path} is not a valid bits state file: {ex.Message}", ex);
        }
    }

    /// <summary>Writes the state atomically (a temporary file moved over the old one).</summary>
    public void Save(string path)
    {
        var full = Path.GetFullPath(path);
        var temp = full + ".tmp";
        System.IO.File.WriteAllText(temp, JsonSerializer.Serialize(this, StateJsonContext.Default.UploadState));
        System.IO.File.Move(temp, full, overwrite: true);
    }

    /// <summary>The default state file of <paramref name="file"/>: next to it, else (if that folder is not writable) in the current folder.</summary>
    public static (string Beside, string InCurrentFolder) DefaultPaths(string file)
    {
        var full = Path.GetFullPath(file);
        var name = Path.GetFileName(full) + ".bits-state.json";
        return (full + ".bits-state.json", Path.GetFullPath(name));
    }
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true)]
[JsonSerializable(typeof(UploadState))]
internal sealed partial class StateJsonContext : JsonSerializerContext;
