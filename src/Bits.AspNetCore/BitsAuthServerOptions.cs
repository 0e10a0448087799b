using Bits.Protocol;
using Microsoft.Extensions.Options;

namespace Bits.AspNetCore;

/// <summary>
/// Credentials and token validation shared by every area, bound from <c>Bits:Authentication</c> beside the default
/// area's rule: which area accepts which scheme is <see cref="BitsAuthenticationOptions"/> (<c>Bits:Authentication</c>,
/// <c>Bits:Areas:&lt;name&gt;:Authentication</c>), so its switch <c>Bearer</c> and the token settings
/// <c>BearerTokens</c> have different names.
/// </summary>
public sealed class BitsAuthServerOptions
{
    public const string SectionName = "Bits:Authentication";

    /// <summary>
    /// HTTP Basic users: user name to a <see cref="BitsPasswordHasher"/> hash string (<c>hash-password</c> prints one).
    /// User names match case-insensitively; the name recorded for a session is the one configured here.
    /// </summary>
    public Dictionary<string, string> BasicUsers { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Accept (and offer) Basic credentials on plain HTTP requests; for local tests only.</summary>
    public bool AllowBasicOverHttp { get; set; }

    /// <summary>Entra ID (OpenID Connect) bearer token validation (<c>Bits:Authentication:BearerTokens</c>).</summary>
    public BitsBearerAuthOptions BearerTokens { get; set; } = new();
}

/// <summary>How bearer tokens are validated: signature (keys from the authority's OpenID metadata), lifetime, audience, issuer.</summary>
public sealed class BitsBearerAuthOptions
{
    /// <summary>
    /// The token issuer's authority, e.g. <c>https://login.microsoftonline.com/&lt;tenant id&gt;/v2.0</c>; its
    /// <c>/.well-known/openid-configuration</c> gives the signing keys and the expected issuer.
    /// </summary>
    public string? Authority { get; set; }

    /// <summary>The expected <c>aud</c>: the API's application id URI or client id.</summary>
    public string? Audience { get; set; }

    /// <summary>Accepted <c>iss</c> values; empty for the issuer in the authority's metadata.</summary>
    public List<string> ValidIssuers { get; } = [];
}

/// <summary>Checks <see cref="BitsAuthServerOptions"/> and the areas' authentication rules at start-up.</summary>
internal sealed class BitsAuthServerOptionsValidator(IOptions<BitsServerOptions> server) : IValidateOptions<BitsAuthServerOptions>
{
    public ValidateOptionsResult Validate(string? name, BitsAuthServerOptions options)
    {
        var failures = new List<string>();
        foreach (var (user, hash) in options.BasicUsers)
        {
            if (user.Length == 0 || user.Any(char.IsControl))
            {
                failures.Add("Bits:Authentication:BasicUsers has an empty user name or one with control characters.");
            }
            else if (!BitsPasswordHasher.IsValidHash(hash))
            {
                // Never echo the value: it may be a password pasted by mistake.
                failures.Add($"Bits:Authentication:BasicUsers:{user} is not a hash string from 'hash-password' ({BitsPasswordHasher.Algorithm}$<iterations>$<base64 salt>$<base64 hash>).");
            }
        }

        var bearer = options.BearerTokens;
        if (!string.IsNullOrWhiteSpace(bearer.Authority)
            && (!Uri.TryCreate(bearer.Authority, UriKind.Absolute, out var authority) || authority.Scheme != Uri.UriSchemeHttps))
        {
            failures.Add($"Bits:Authentication:BearerTokens:Authority must be an absolute https URL; it is '{bearer.Authority}'.");
        }

        var rules = new List<(string Key, BitsAuthenticationOptions Rule)> { ("Bits:Authentication", server.Value.Authentication) };
        rules.AddRange(server.Value.Areas.Where(a => a.Value.Authentication is not null).Select(a => ($"Bits:Areas:{a.Key}:Authentication", a.Value.Authentication!)));
        foreach (var (key, rule) in rules)
        {
            if (!rule.AllowAnonymous && !rule.Basic && !rule.Bearer)
            {
                failures.Add($"{key}: AllowAnonymous is false but neither Basic nor Bearer is on, so nobody could upload (set Enabled to false to close an area).");
            }

            if (rule.Realm.Any(char.IsControl))
            {
                failures.Add($"{key}:Realm must not contain control characters.");
            }

            if (rule.Bearer && (string.IsNullOrWhiteSpace(bearer.Authority) || string.IsNullOrWhiteSpace(bearer.Audience)))
            {
                failures.Add($"{key}:Bearer is on, so Bits:Authentication:BearerTokens:Authority and Bits:Authentication:BearerTokens:Audience are required.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
