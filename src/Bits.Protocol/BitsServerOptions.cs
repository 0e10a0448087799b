using Microsoft.Extensions.Options;

namespace Bits.Protocol;

/// <summary>Protocol settings, bound from the <c>Bits</c> configuration section.</summary>
public sealed class BitsServerOptions
{
    public const string SectionName = "Bits";

    /// <summary>Largest Fragment body accepted; larger bodies get 413 so the client shrinks its fragments.</summary>
    public long MaxFragmentBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>Largest file accepted (IIS BITSMaximumUploadSize); larger totals get 500 + BG_E_TOO_LARGE.</summary>
    public long MaxUploadBytes { get; set; } = 1L << 40;

    /// <summary>Whether an upload may replace an existing destination (IIS BITSAllowOverwrites).</summary>
    public bool AllowOverwrites { get; set; }

    /// <summary>How long a closed or cancelled session's tombstone answers repeated Close/Cancel with 200.</summary>
    public TimeSpan TombstoneLifetime { get; set; } = TimeSpan.FromDays(14);
}

/// <summary>Checks <see cref="BitsServerOptions"/> at start-up with precise messages.</summary>
public sealed class BitsServerOptionsValidator : IValidateOptions<BitsServerOptions>
{
    public ValidateOptionsResult Validate(string? name, BitsServerOptions options)
    {
        var failures = new List<string>();
        if (options.MaxFragmentBytes is < 1 or > 100L * 1024 * 1024)
        {
            failures.Add($"Bits:MaxFragmentBytes must be between 1 and 104857600 (Azure's append-block limit); it is {options.MaxFragmentBytes}.");
        }

        if (options.MaxUploadBytes < 0)
        {
            failures.Add($"Bits:MaxUploadBytes must not be negative; it is {options.MaxUploadBytes}.");
        }

        if (options.TombstoneLifetime <= TimeSpan.Zero)
        {
            failures.Add($"Bits:TombstoneLifetime must be positive; it is {options.TombstoneLifetime}.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
