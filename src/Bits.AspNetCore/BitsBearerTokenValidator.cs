using System.Security.Claims;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace Bits.AspNetCore;

/// <summary>Signing keys (and the issuer they belong to) that bearer tokens are checked against.</summary>
public sealed record BitsBearerSigningKeys(string? Issuer, IReadOnlyCollection<SecurityKey> Keys);

/// <summary>
/// Where bearer-token signing keys come from. The default reads the authority's OpenID Connect metadata (cached and
/// refreshed by <see cref="ConfigurationManager{T}"/>); register another implementation to supply keys from code
/// (tests, or an issuer without metadata).
/// </summary>
public interface IBitsBearerKeyProvider
{
    /// <summary>The current keys. Throws when they cannot be obtained (the request then gets a 503 to retry).</summary>
    Task<BitsBearerSigningKeys> GetSigningKeysAsync(CancellationToken cancellationToken);

    /// <summary>Asks for fresh keys at the next call (a token named an unknown key id: the issuer may have rotated).</summary>
    void RequestRefresh();
}

/// <summary>Keys from <c>{Authority}/.well-known/openid-configuration</c>, fetched over HTTPS only.</summary>
internal sealed class OpenIdConnectBitsBearerKeyProvider : IBitsBearerKeyProvider, IDisposable
{
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };
    private readonly Lazy<ConfigurationManager<OpenIdConnectConfiguration>> _manager;

    public OpenIdConnectBitsBearerKeyProvider(IOptions<BitsAuthServerOptions> options)
    {
        _manager = new(() =>
        {
            var authority = options.Value.BearerTokens.Authority;
            if (string.IsNullOrWhiteSpace(authority))
            {
                throw new InvalidOperationException("Bits:Authentication:BearerTokens:Authority is not set.");
            }

            var metadata = authority.TrimEnd('/') + "/.well-known/openid-configuration";
            return new ConfigurationManager<OpenIdConnectConfiguration>(
                metadata, new OpenIdConnectConfigurationRetriever(), new HttpDocumentRetriever(_http) { RequireHttps = true });
        });
    }

    public async Task<BitsBearerSigningKeys> GetSigningKeysAsync(CancellationToken cancellationToken)
    {
        var configuration = await _manager.Value.GetConfigurationAsync(cancellationToken).ConfigureAwait(false);
        return new BitsBearerSigningKeys(configuration.Issuer, [.. configuration.SigningKeys]);
    }

    public void RequestRefresh()
    {
        if (_manager.IsValueCreated)
        {
            _manager.Value.RequestRefresh();
        }
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>The outcome of checking one bearer token.</summary>
internal readonly record struct BitsBearerResult(string? UserName, ClaimsIdentity? Identity, string? Failure, bool KeysUnavailable)
{
    public bool IsValid => UserName is not null && Identity is not null;
}

/// <summary>
/// Validates Entra ID access tokens: signature, lifetime (5 minutes' clock skew), audience and issuer. The user name is
/// the first of the claims <c>preferred_username</c>, <c>upn</c>, <c>oid</c>, <c>sub</c> that the token carries
/// (app-only tokens from the client-credentials flow have no user name, so their service principal's <c>oid</c> is used).
/// </summary>
internal sealed class BitsBearerTokenValidator(IOptionsMonitor<BitsAuthServerOptions> options, IBitsBearerKeyProvider keys)
{
    /// <summary>Claims tried, in order, for the user name recorded with the session and the blob.</summary>
    public static readonly string[] UserNameClaims = ["preferred_username", "upn", "oid", "sub"];

    private const int MaxTokenLength = 16 * 1024;

    private static readonly string[] AsymmetricAlgorithms =
    [
        SecurityAlgorithms.RsaSha256, SecurityAlgorithms.RsaSha384, SecurityAlgorithms.RsaSha512,
        SecurityAlgorithms.RsaSsaPssSha256, SecurityAlgorithms.RsaSsaPssSha384, SecurityAlgorithms.RsaSsaPssSha512,
        SecurityAlgorithms.EcdsaSha256, SecurityAlgorithms.EcdsaSha384, SecurityAlgorithms.EcdsaSha512,
    ];

    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };

    public async Task<BitsBearerResult> ValidateAsync(string token, CancellationToken cancellationToken)
    {
        if (token.Length is 0 or > MaxTokenLength || !_handler.CanReadToken(token))
        {
            return new(null, null, "not a JWT", false);
        }

        var (result, keysError) = await ValidateOnceAsync(token, cancellationToken).ConfigureAwait(false);
        if (result?.Exception is SecurityTokenSignatureKeyNotFoundException)
        {
            // Unknown key id: the issuer may have rotated its keys. ConfigurationManager rate-limits refreshes.
            keys.RequestRefresh();
            (result, keysError) = await ValidateOnceAsync(token, cancellationToken).ConfigureAwait(false);
        }

        if (result is null)
        {
            return new(null, null, keysError?.GetType().Name ?? "keys unavailable", true);
        }

        if (!result.IsValid || result.SecurityToken is not JsonWebToken jwt || result.ClaimsIdentity is null)
        {
            // The exception's type says why (expired, audience, issuer, signature) without quoting the token.
            return new(null, null, result.Exception?.GetType().Name ?? "invalid token", false);
        }

        foreach (var claim in UserNameClaims)
        {
            if (jwt.TryGetPayloadValue<string>(claim, out var value) && !string.IsNullOrWhiteSpace(value))
            {
                var identity = new ClaimsIdentity(result.ClaimsIdentity.Claims, "Bearer", ClaimTypes.Name, ClaimTypes.Role);
                identity.AddClaim(new Claim(ClaimTypes.Name, value));
                return new(value, identity, null, false);
            }
        }

        return new(null, null, "the token names no user", false);
    }

    /// <summary>The validation result, or null and the reason when the signing keys could not be obtained.</summary>
    private async Task<(TokenValidationResult? Result, Exception? KeysError)> ValidateOnceAsync(string token, CancellationToken cancellationToken)
    {
        BitsBearerSigningKeys signing;
        try
        {
            signing = await keys.GetSigningKeysAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // Unreachable metadata, or the client went away while it was fetched: either way no token can be checked.
            return (null, ex);
        }

        var bearer = options.CurrentValue.BearerTokens;
        List<string> issuers = bearer.ValidIssuers.Count > 0 ? [.. bearer.ValidIssuers] : signing.Issuer is { Length: > 0 } issuer ? [issuer] : [];
        var parameters = new TokenValidationParameters
        {
            ValidateAudience = true,
            ValidAudience = bearer.Audience,
            ValidateIssuer = true,
            ValidIssuers = issuers,
            IssuerSigningKeys = signing.Keys,
            RequireSignedTokens = true,
            RequireExpirationTime = true,
            ValidateLifetime = true,
            ClockSkew = TimeSpan.FromMinutes(5),
            ValidAlgorithms = AsymmetricAlgorithms,
        };
        return (await _handler.ValidateTokenAsync(token, parameters).ConfigureAwait(false), null);
    }
}
