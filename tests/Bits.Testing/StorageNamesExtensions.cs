namespace Bits.Testing;

/// <summary>The <see cref="StorageNames"/> checks a test makes, cancelled with the test.</summary>
public static class StorageNamesExtensions
{
    public static Task<byte[]> ReadPublishedAsync(this StorageNames storage, string name) =>
        storage.ReadPublishedAsync(name, TestContext.Current.CancellationToken);

    public static Task<int> StagedBlobCountAsync(this StorageNames storage) =>
        storage.StagedBlobCountAsync(TestContext.Current.CancellationToken);

    public static Task<int> SessionRowCountAsync(this StorageNames storage) =>
        storage.SessionRowCountAsync(TestContext.Current.CancellationToken);
}
