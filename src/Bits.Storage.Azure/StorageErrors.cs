using Azure;

namespace Bits.Storage.Azure;

/// <summary>Predicates on SDK failures, by status and error code (never by message text).</summary>
internal static class StorageErrors
{
    public static bool IsNotFound(this RequestFailedException ex) => ex.Status == 404;

    /// <summary>The blob (or row) is not there, in a container that is: 404 other than <c>ContainerNotFound</c>.</summary>
    public static bool IsBlobNotFound(this RequestFailedException ex) => ex.Status == 404 && ex.ErrorCode != "ContainerNotFound";

    public static bool IsPreconditionFailed(this RequestFailedException ex) => ex.Status == 412;

    public static bool IsConflict(this RequestFailedException ex) => ex.Status == 409;

    public static bool IsAppendPositionMismatch(this RequestFailedException ex) =>
        ex.Status == 412 && ex.ErrorCode is "AppendPositionConditionNotMet" or "MaxBlobSizeConditionNotMet" or null or "";

    public static bool IsInvalidBlockList(this RequestFailedException ex) => ex.Status == 400 && ex.ErrorCode == "InvalidBlockList";

    public static bool IsBlockCountExceeded(this RequestFailedException ex) => ex.Status == 409 && ex.ErrorCode == "BlockCountExceedsLimit";

    /// <summary>A container or the table does not exist (deleted by an operator): a server fault, not a missing session.</summary>
    public static bool IsResourceMissing(this RequestFailedException ex) =>
        ex.Status == 404 && ex.ErrorCode is "ContainerNotFound" or "TableNotFound";

    /// <summary>Worth retrying later: throttling, server errors, timeouts, and failures with no response at all.</summary>
    public static bool IsTransient(this RequestFailedException ex) => ex.Status is 0 or 408 or 429 or >= 500;
}
