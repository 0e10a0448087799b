namespace Bits.Protocol;

/// <summary>
/// Optional, registered by a store whose areas without their own <see cref="BitsUploadAreaOptions.Container"/> share a
/// default one: start-up validation of <see cref="BitsServerOptions"/> then sees that an area naming that container
/// explicitly shares it with the areas that name none.
/// </summary>
public interface IBitsDefaultContainer
{
    /// <summary>The container of areas that leave <see cref="BitsUploadAreaOptions.Container"/> empty.</summary>
    string DefaultContainer { get; }
}
