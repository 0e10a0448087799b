using System.Buffers.Text;
using System.Text.Json;
using Azure.Core;

namespace Bits.Testing;

/// <summary>
/// A <see cref="TokenCredential"/> for Azurite's <c>--oauth basic</c> mode, standing in for a managed identity: it
/// issues an unsigned-looking JWT with the claims Azurite checks (issuer under <c>https://sts.windows.net/</c>,
/// audience <c>https://storage.azure.com</c>, iat/nbf/exp) plus the identity claims a user delegation key is bound to
/// (oid, tid). Azurite does not verify the signature, so the signature segment is a placeholder.
/// </summary>
public sealed class AzuriteTokenCredential : TokenCredential
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromHours(1);

    private readonly string _audience;
    private int _issued;

    /// <param name="audience">The <c>aud</c> claim; anything but a storage audience makes Azurite refuse the token.</param>
    public AzuriteTokenCredential(Guid? tenantId = null, Guid? objectId = null, string audience = "https://storage.azure.com")
    {
        TenantId = tenantId ?? Guid.NewGuid();
        ObjectId = objectId ?? Guid.NewGuid();
        _audience = audience;
    }

    /// <summary>The <c>tid</c> claim: appears as <c>sktid</c> in a user delegation SAS.</summary>
    public Guid TenantId { get; }

    /// <summary>The <c>oid</c> claim: appears as <c>skoid</c> in a user delegation SAS.</summary>
    public Guid ObjectId { get; }

    /// <summary>How many tokens were requested (the SDKs cache them, so this counts refreshes, not requests).</summary>
    public int TokensIssued => Volatile.Read(ref _issued);

    public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _issued);
        var now = DateTimeOffset.UtcNow;
        var expires = now + Lifetime;
        var header = new Dictionary<string, object> { ["alg"] = "RS256", ["typ"] = "JWT" };
        var claims = new Dictionary<string, object>
        {
            ["aud"] = _audience,
            ["iss"] = $"https://sts.windows.net/{TenantId}/",
            ["iat"] = now.AddMinutes(-5).ToUnixTimeSeconds(),
            ["nbf"] = now.AddMinutes(-5).ToUnixTimeSeconds(),
            ["exp"] = expires.ToUnixTimeSeconds(),
            ["oid"] = ObjectId.ToString(),
            ["sub"] = ObjectId.ToString(),
            ["tid"] = TenantId.ToString(),
            ["appid"] = ObjectId.ToString(),
            ["idtyp"] = "app",
            ["ver"] = "1.0",
        };
        var token = $"{Encode(header)}.{Encode(claims)}.{Base64Url.EncodeToString("not-signed"u8)}";
        return new AccessToken(token, expires);
    }

    public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        ValueTask.FromResult(GetToken(requestContext, cancellationToken));

    private static string Encode(Dictionary<string, object> value) => Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes(value));
}
