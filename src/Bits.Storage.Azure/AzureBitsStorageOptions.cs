using Bits.Protocol;
using Microsoft.Extensions.Options;

namespace Bits.Storage.Azure;

/// <summary>Where sessions and files live; bound from the <c>BitsStorage</c> configuration section. Holds no secrets
/// except an optional local connection string (Azurite).</summary>
public sealed class AzureBitsStorageOptions : IBitsDefaultContainer
{
    public const string SectionName = "BitsStorage";

    /// <summary>Connection string (Azurite or shared key). When empty, the service URIs and a managed identity are used.</summary>
    public string? ConnectionString { get; set; }

    public Uri? BlobServiceUri { get; set; }

    public Uri? TableServiceUri { get; set; }

    public Uri? QueueServiceUri { get; set; }

    /// <summary>Client id of a user-assigned managed identity; empty for the default credential chain.</summary>
    public string? ManagedIdentityClientId { get; set; }

    /// <summary>Container that receives published files.</summary>
    public string UploadContainer { get; set; } = "uploads";

    /// <summary>Container for the blobs of upload-reply sessions (<c>{id}/request</c>, <c>{id}/reply</c>); other uploads stage on their destination.</summary>
    public string StagingContainer { get; set; } = "bits-staging";

    /// <summary>Table holding session rows and tombstones.</summary>
    public string SessionTable { get; set; } = "bitssessions";

    /// <summary>Size of each server-side Put Block From URL range when an upload-reply back-end asks for
    /// BITS-Copy-File-To-Destination (the only publish that copies bytes); larger for a file that would need more than
    /// 49,999 ranges. A range still running when a request's copy budget ends is copied again by the next request, so
    /// ranges stay small: 16 MiB, <see cref="PublishConcurrency"/> at a time, make progress from 5.2 MiB/s up.</summary>
    public long PublishBlockBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>Concurrent Put Block From URL calls of such a copy.</summary>
    public int PublishConcurrency { get; set; } = 8;

    /// <summary>Base64-encode completion-event messages (what the Functions queue trigger expects); false for plain JSON.</summary>
    public bool CompletionMessageBase64 { get; set; } = true;

    /// <summary>Create the containers and table at start-up if they are missing.</summary>
    public bool CreateResources { get; set; } = true;

    /// <summary>Storage's per-blob block limits and the coalescing segment size; lowered only by tests (not configuration).</summary>
    internal BitsBlockBudget BlockBudget { get; set; } = BitsBlockBudget.Azure;

    /// <summary>Areas without their own container store in <see cref="UploadContainer"/>.</summary>
    string IBitsDefaultContainer.DefaultContainer => UploadContainer;
}

public sealed class AzureBitsStorageOptionsValidator : IValidateOptions<AzureBitsStorageOptions>
{
    public ValidateOptionsResult Validate(string? name, AzureBitsStorageOptions options)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(options.ConnectionString) && (options.BlobServiceUri is null || options.TableServiceUri is null))
        {
            failures.Add("BitsStorage: set either BitsStorage:ConnectionString (local/Azurite) or both BitsStorage:BlobServiceUri and BitsStorage:TableServiceUri (managed identity).");
        }

        CheckContainer(options.UploadContainer, "UploadContainer", failures);
        CheckContainer(options.StagingContainer, "StagingContainer", failures);
        if (string.Equals(options.UploadContainer, options.StagingContainer, StringComparison.Ordinal))
        {
            failures.Add("BitsStorage:UploadContainer and BitsStorage:StagingContainer must differ.");
        }

        if (string.IsNullOrEmpty(options.SessionTable) || options.SessionTable.Length is < 3 or > 63
            || !char.IsAsciiLetter(options.SessionTable[0]) || !options.SessionTable.All(char.IsAsciiLetterOrDigit))
        {
            failures.Add($"BitsStorage:SessionTable '{options.SessionTable}' is not a valid table name (3-63 letters or digits, starting with a letter).");
        }

        if (options.PublishBlockBytes is < 1 or > 4000L * 1024 * 1024)
        {
            failures.Add($"BitsStorage:PublishBlockBytes must be between 1 and 4194304000; it is {options.PublishBlockBytes}.");
        }

        if (options.PublishConcurrency is < 1 or > 64)
        {
            failures.Add($"BitsStorage:PublishConcurrency must be between 1 and 64; it is {options.PublishConcurrency}.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void CheckContainer(string? value, string key, List<string> failures)
    {
        if (string.IsNullOrEmpty(value) || value.Length is < 3 or > 63 || !value.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-')
            || value.StartsWith('-') || value.EndsWith('-') || value.Contains("--", StringComparison.Ordinal))
        {
            failures.Add($"BitsStorage:{key} '{value}' is not a valid container name (3-63 lower-case letters, digits and single hyphens).");
        }
    }
}
