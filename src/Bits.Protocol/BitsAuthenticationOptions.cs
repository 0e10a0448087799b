namespace Bits.Protocol;

/// <summary>
/// Who may upload to an area. With anonymous access off, a request without valid credentials gets 401 with a
/// challenge; an authenticated user outside <see cref="AllowedUsers"/> gets 403 + E_ACCESSDENIED.
/// </summary>
public sealed class BitsAuthenticationOptions
{
    /// <summary>Accept requests without credentials.</summary>
    public bool AllowAnonymous { get; set; } = true;

    /// <summary>Accept HTTP Basic credentials (BG_AUTH_SCHEME_BASIC; use over HTTPS only) checked against <c>Bits:Authentication:BasicUsers</c>.</summary>
    public bool Basic { get; set; }

    /// <summary>Accept Entra ID bearer tokens (sent by clients as a custom <c>Authorization: Bearer</c> header).</summary>
    public bool Bearer { get; set; }

    /// <summary>Realm of the Basic challenge.</summary>
    public string Realm { get; set; } = "BITS uploads";

    /// <summary>User names allowed here; empty allows every authenticated user.</summary>
    public List<string> AllowedUsers { get; } = [];
}
