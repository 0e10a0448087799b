using System.Reflection;
using Bits.Protocol;

namespace Bits.Testing;

/// <summary>
/// An <see cref="IBitsUploadStore"/> with none of the optional capabilities (<see cref="IBitsReplyStore"/>,
/// <see cref="IBitsExpiryStore"/>, <see cref="IBitsEventStore"/>). Every call throws: for tests whose code must never
/// reach the store.
/// </summary>
public class BareBitsUploadStore : DispatchProxy
{
    public static IBitsUploadStore Create() => Create<IBitsUploadStore, BareBitsUploadStore>();

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) =>
        throw new InvalidOperationException($"{targetMethod?.Name} was called on a store no test expects to be used.");
}
