using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Azure.Core;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Bits.AspNetCore;
using Bits.Client;
using Bits.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Bits.Host.Tests;

/// <summary>Per-area HTTP Basic and bearer-token authentication on the real host over Azurite.</summary>
public class AuthenticationTests(AzuriteFixture azurite)
{
    private const string Issuer = "https://login.test.invalid/11111111-2222-3333-4444-555555555555/v2.0";
    private const string Audience = "api://bits-tests";
    private const string BearerUser = "user@contoso.com";
    private const string Realm = "Secure uploads";

    // Few iterations keep the tests fast; the format is the production one.
    private static readonly string AliceHash = BitsPasswordHasher.Hash("alice-pw", 1000);
    private static readonly string BobHash = BitsPasswordHasher.Hash("bob pw \u00e9", 1000);
    private static readonly string CarolHash = BitsPasswordHasher.Hash("carol-pw", 1000);

    private static readonly RsaSecurityKey SigningKey = NewKey("test-key");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ProtectedArea_WithoutCredentials_Gets401ChallengeAckForEveryPacket()
    {
        await using var host = await StartAsync();
        using var http = new HttpClient();
        var url = host.Url("secure/q4.bin");

        foreach (var request in new[] { HttpBits.Packet(url, "Ping"), HttpBits.Create(url), HttpBits.Packet(url, "Close-Session", "{00000000-0000-0000-0000-000000000000}") })
        {
            using var response = await http.SendAsync(request, Ct);

            AssertChallenge(response, basic: true, bearer: true);
        }

        Assert.Equal(0, await host.Storage.SessionRowCountAsync());
    }

    [Fact]
    public async Task WrongOrMalformedCredentials_Get401()
    {
        await using var host = await StartAsync();
        using var http = new HttpClient();
        var url = host.Url("secure/q4.bin");

        foreach (var authorization in new[]
        {
            Basic("alice", "wrong"),
            Basic("nobody", "alice-pw"),
            Basic("alice", ""),
            "Basic !!!not-base64!!!",
            "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("no-colon")),
            "Basic",
            "Digest username=\"alice\"",
            "Bearer not.a.jwt",
        })
        {
            using var response = await http.SendAsync(With(HttpBits.Create(url), authorization), Ct);

            AssertChallenge(response, basic: true, bearer: true);
        }

        Assert.Equal(0, await host.Storage.SessionRowCountAsync());
    }

    [Fact]
    public async Task RightPassword_UploadCompletes_AndTheUserIsRecordedOnTheBlob()
    {
        await using var host = await StartAsync();
        using var http = new HttpClient();
        var client = new BitsUploadClient(http, new BitsClientOptions { RetryDelay = TimeSpan.Zero, InitialFragmentBytes = 20_000, MinFragmentBytes = 20_000, MaxFragmentBytes = 20_000 });
        client.Options.CustomHeaders["Authorization"] = Basic("ALICE", "alice-pw");
        var file = SeededStream.Bytes(100_000, 1);

        var result = await client.UploadAsync(host.Url("secure/q4.bin"), new MemoryStream(file), ct: Ct);

        Assert.Equal(file, await host.Storage.ReadPublishedAsync("secure/q4.bin"));
        Assert.Equal("alice", await UploaderAsync(host, "secure/q4.bin"));
        Assert.True(result.FragmentsSent >= 5);

        // One PBKDF2 for the whole upload: later packets hit the verification cache.
        Assert.Equal(1, host.Services.GetRequiredService<BitsBasicCredentialVerifier>().Derivations);
    }

    [Fact]
    public async Task NonAsciiPassword_IsUtf8()
    {
        await using var host = await StartAsync();
        using var http = new HttpClient();

        using var ping = await http.SendAsync(With(HttpBits.Packet(host.Url("secure/x.bin"), "Ping"), Basic("bob", "bob pw \u00e9")), Ct);

        ping.AssertAck(200);
    }

    [Fact]
    public async Task UserOutsideAllowedUsers_Gets403AccessDenied()
    {
        await using var host = await StartAsync();
        using var http = new HttpClient();
        var url = host.Url("secure/q4.bin");

        foreach (var request in new[] { HttpBits.Packet(url, "Ping"), HttpBits.Create(url) })
        {
            using var response = await http.SendAsync(With(request, Basic("carol", "carol-pw")), Ct);

            response.AssertAck(403);
            Assert.Equal("0x80070005", response.Header("BITS-Error-Code"));
            Assert.Null(response.Header("WWW-Authenticate"));
        }

        Assert.Equal(0, await host.Storage.SessionRowCountAsync());
    }

    [Fact]
    public async Task AnotherUser_CannotContinueAlicesSession_EvenWithValidCredentials()
    {
        await using var host = await StartAsync();
        using var http = new HttpClient();
        var url = host.Url("secure/shared.bin");
        var file = SeededStream.Bytes(30_000, 2);
        string id;
        using (var create = await http.SendAsync(With(HttpBits.Create(url), Basic("alice", "alice-pw")), Ct))
        {
            create.AssertAck(200);
            id = create.Header("BITS-Session-Id")!;
        }

        using (var fragment = await http.SendAsync(With(HttpBits.Fragment(url, id, file, 0, 30_000), Basic("bob", "bob pw \u00e9")), Ct))
        {
            fragment.AssertAck(500);
            Assert.Equal("0x8020001F", fragment.Header("BITS-Error-Code"));
        }

        using (var close = await http.SendAsync(With(HttpBits.Packet(url, "Close-Session", id), Basic("bob", "bob pw \u00e9")), Ct))
        {
            close.AssertAck(500);
            Assert.Equal("0x8020001F", close.Header("BITS-Error-Code"));
        }

        using (var bearer = await http.SendAsync(With(HttpBits.Fragment(url, id, file, 0, 30_000), "Bearer " + Token()), Ct))
        {
            bearer.AssertAck(500);
            Assert.Equal("0x8020001F", bearer.Header("BITS-Error-Code"));
        }

        using (var fragment = await http.SendAsync(With(HttpBits.Fragment(url, id, file, 0, 30_000), Basic("alice", "alice-pw")), Ct))
        {
            fragment.AssertAck(200);
            Assert.Equal(30_000, fragment.Received());
        }

        using (var close = await http.SendAsync(With(HttpBits.Packet(url, "Close-Session", id), Basic("alice", "alice-pw")), Ct))
        {
            close.AssertAck(200);
        }

        Assert.Equal(file, await host.Storage.ReadPublishedAsync("secure/shared.bin"));
        Assert.Equal("alice", await UploaderAsync(host, "secure/shared.bin"));
    }

    [Fact]
    public async Task AnotherUsersSession_AndAnUnknownId_CostTheSameStorageRequests()
    {
        var counter = new RequestCounter();
        await using var host = await StartAsync(counter: counter);
        using var http = new HttpClient();
        var url = host.Url("secure/probe.bin");
        var file = SeededStream.Bytes(1000, 5);
        string alices;
        using (var create = await http.SendAsync(With(HttpBits.Create(url), Basic("alice", "alice-pw")), Ct))
        {
            create.AssertAck(200);
            alices = create.Header("BITS-Session-Id")!;
        }

        var costs = new List<(string Probe, int Reads, int Writes)>();
        foreach (var (probe, id) in new[] { ("foreign", alices), ("unknown", Guid.NewGuid().ToString("B")), ("foreign", alices), ("unknown", Guid.NewGuid().ToString("B")) })
        {
            counter.Reset();
            using (var fragment = await http.SendAsync(With(HttpBits.Fragment(url, id, file, 0, file.Length), Basic("bob", "bob pw \u00e9")), Ct))
            {
                fragment.AssertAck(500);
                Assert.Equal("0x8020001F", fragment.Header("BITS-Error-Code"));
            }

            using (var close = await http.SendAsync(With(HttpBits.Packet(url, "Close-Session", id), Basic("bob", "bob pw \u00e9")), Ct))
            {
                close.AssertAck(500);
                Assert.Equal("0x8020001F", close.Header("BITS-Error-Code"));
            }

            costs.Add((probe, counter.Reads, counter.Writes));
        }

        Assert.True(costs[0].Reads > 0);
        Assert.All(costs, c => Assert.Equal((costs[0].Reads, costs[0].Writes), (c.Reads, c.Writes)));
    }

    [Fact]
    public async Task BearerTokenNamedLikeABasicUser_DoesNotOwnThatUsersSession()
    {
        await using var host = await StartAsync();
        using var http = new HttpClient();
        var url = host.Url("secure/mine.bin");
        var file = SeededStream.Bytes(1000, 6);
        string id;
        using (var create = await http.SendAsync(With(HttpBits.Create(url), Basic("alice", "alice-pw")), Ct))
        {
            create.AssertAck(200);
            id = create.Header("BITS-Session-Id")!;
        }

        var namedAlice = Token(claims: new Dictionary<string, object> { ["preferred_username"] = "alice", ["tid"] = "11111111-2222-3333-4444-555555555555", ["oid"] = "99999999-0000-4000-8000-000000000009" });
        using var fragment = await http.SendAsync(With(HttpBits.Fragment(url, id, file, 0, file.Length), "Bearer " + namedAlice), Ct);

        fragment.AssertAck(500);
        Assert.Equal("0x8020001F", fragment.Header("BITS-Error-Code"));
    }

    [Fact]
    public async Task BearerSession_IsOwnedByTenantAndObjectId_NotByTheMutableName()
    {
        await using var host = await StartAsync();
        using var http = new HttpClient();
        var url = host.Url("api/renamed.bin");
        var file = SeededStream.Bytes(1000, 7);
        Dictionary<string, object> Claims(string name) => new() { ["preferred_username"] = name, ["tid"] = "11111111-2222-3333-4444-555555555555", ["oid"] = "0a0a0a0a-0000-4000-8000-00000000000a" };
        string id;
        using (var create = await http.SendAsync(With(HttpBits.Create(url), "Bearer " + Token(claims: Claims("old@contoso.com"))), Ct))
        {
            create.AssertAck(200);
            id = create.Header("BITS-Session-Id")!;
        }

        using var fragment = await http.SendAsync(With(HttpBits.Fragment(url, id, file, 0, file.Length), "Bearer " + Token(claims: Claims("new@contoso.com"))), Ct);
        using var other = await http.SendAsync(
            With(HttpBits.Packet(url, "Close-Session", id), "Bearer " + Token(claims: new Dictionary<string, object> { ["preferred_username"] = "old@contoso.com", ["tid"] = "11111111-2222-3333-4444-555555555555", ["oid"] = "0b0b0b0b-0000-4000-8000-00000000000b" })),
            Ct);

        fragment.AssertAck(200);
        other.AssertAck(500);
        Assert.Equal("0x8020001F", other.Header("BITS-Error-Code"));
    }

    [Fact]
    public async Task SessionCreatedUnderTheOldUserKey_IsNotFound()
    {
        await using var host = await StartAsync();
        using var http = new HttpClient();
        var url = host.Url("secure/old.bin");
        var file = SeededStream.Bytes(1000, 8);
        string id;
        using (var create = await http.SendAsync(With(HttpBits.Create(url), Basic("alice", "alice-pw")), Ct))
        {
            create.AssertAck(200);
            id = create.Header("BITS-Session-Id")!;
        }

        // A row as the code before owner keys wrote it: the user name, no owner.
        var row = (await host.Storage.Sessions.GetEntityAsync<TableEntity>(Guid.Parse(id).ToString("B").ToUpperInvariant(), "session", cancellationToken: Ct)).Value;
        row.Remove("Owner");
        await host.Storage.Sessions.UpdateEntityAsync(row, row.ETag, TableUpdateMode.Replace, Ct);

        using var fragment = await http.SendAsync(With(HttpBits.Fragment(url, id, file, 0, file.Length), Basic("alice", "alice-pw")), Ct);

        fragment.AssertAck(500);
        Assert.Equal("0x8020001F", fragment.Header("BITS-Error-Code"));
    }

    [Fact]
    public async Task AnonymousAreas_StillWork_AndOptionalCredentialsAreCheckedWhenSent()
    {
        await using var host = await StartAsync();
        using var http = new HttpClient();
        var client = new BitsUploadClient(http, new BitsClientOptions { RetryDelay = TimeSpan.Zero });
        var file = SeededStream.Bytes(10_000, 3);

        await client.UploadAsync(host.Url("public/a.bin"), new MemoryStream(file), ct: Ct);
        await client.UploadAsync(host.Url("open/b.bin"), new MemoryStream(file), ct: Ct);
        using var ignored = await http.SendAsync(With(HttpBits.Packet(host.Url("public/c.bin"), "Ping"), Basic("alice", "wrong")), Ct);
        using var wrong = await http.SendAsync(With(HttpBits.Packet(host.Url("open/c.bin"), "Ping"), Basic("alice", "wrong")), Ct);
        client.Options.CustomHeaders["Authorization"] = Basic("carol", "carol-pw");
        await client.UploadAsync(host.Url("open/d.bin"), new MemoryStream(file), ct: Ct);

        Assert.Equal(file, await host.Storage.ReadPublishedAsync("public/a.bin"));
        Assert.Null(await UploaderAsync(host, "public/a.bin"));
        Assert.Null(await UploaderAsync(host, "open/b.bin"));
        ignored.AssertAck(200); // an area that accepts no scheme ignores credentials, like IIS with anonymous access only
        wrong.AssertAck(401); // an area that accepts Basic refuses wrong Basic credentials, even though anonymous is allowed
        Assert.Equal("carol", await UploaderAsync(host, "open/d.bin"));
    }

    [Fact]
    public async Task BearerToken_SignedByTheIssuer_IsAccepted_AndTheUserIsRecorded()
    {
        await using var host = await StartAsync();
        using var http = new HttpClient();
        var client = new BitsUploadClient(http, new BitsClientOptions { RetryDelay = TimeSpan.Zero });
        client.Options.CustomHeaders["Authorization"] = "Bearer " + Token();
        var file = SeededStream.Bytes(40_000, 4);

        await client.UploadAsync(host.Url("api/t.bin"), new MemoryStream(file), ct: Ct);
        await client.UploadAsync(host.Url("secure/t2.bin"), new MemoryStream(file), ct: Ct);
        client.Options.CustomHeaders["Authorization"] = "Bearer " + Token(claims: new Dictionary<string, object> { ["oid"] = "6f1b2c3d-0000-4000-8000-000000000001" });
        await client.UploadAsync(host.Url("api/app.bin"), new MemoryStream(file), ct: Ct);

        Assert.Equal(file, await host.Storage.ReadPublishedAsync("api/t.bin"));
        Assert.Equal(BearerUser, await UploaderAsync(host, "api/t.bin"));
        Assert.Equal(BearerUser, await UploaderAsync(host, "secure/t2.bin"));
        Assert.Equal("6f1b2c3d-0000-4000-8000-000000000001", await UploaderAsync(host, "api/app.bin"));
    }

    [Fact]
    public async Task BearerToken_ExpiredWrongAudienceIssuerOrKey_Gets401()
    {
        var keys = new TestKeyProvider();
        await using var host = await StartAsync(keys: keys);
        using var http = new HttpClient();
        var url = host.Url("api/x.bin");
        var now = DateTime.UtcNow;

        var tokens = new Dictionary<string, string>
        {
            ["expired"] = Token(expires: now.AddHours(-1)),
            ["not yet valid"] = Token(notBefore: now.AddHours(1), expires: now.AddHours(2)),
            ["wrong audience"] = Token(audience: "api://someone-else"),
            ["wrong issuer"] = Token(issuer: "https://login.test.invalid/other-tenant/v2.0"),
            ["wrong key, same kid"] = Token(key: NewKey("test-key")),
            ["unknown kid"] = Token(key: NewKey("rotated-key")),
            ["unsigned"] = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor { Issuer = Issuer, Audience = Audience, Expires = now.AddHours(1), Claims = new Dictionary<string, object> { ["preferred_username"] = BearerUser } }),
            ["no user claim"] = Token(claims: new Dictionary<string, object> { ["scp"] = "upload" }),
        };
        foreach (var (name, token) in tokens)
        {
            using var response = await http.SendAsync(With(HttpBits.Packet(url, "Ping"), "Bearer " + token), Ct);

            Assert.True(response.StatusCode == System.Net.HttpStatusCode.Unauthorized, $"{name}: {(int)response.StatusCode}");
            response.AssertAck(401);
            Assert.Equal("0x80070005", response.Header("BITS-Error-Code"));
            Assert.Equal("Bearer error=\"invalid_token\"", response.Header("WWW-Authenticate"));
        }

        Assert.True(keys.Refreshes >= 1, "An unknown key id asks the key provider for fresh keys.");
        using var ok = await http.SendAsync(With(HttpBits.Packet(url, "Ping"), "Bearer " + Token()), Ct);
        ok.AssertAck(200);
    }

    [Fact]
    public async Task BearerKeysUnavailable_Gets503SoTheClientRetries()
    {
        await using var host = await StartAsync(keys: new TestKeyProvider { Fail = true });
        using var http = new HttpClient();

        using var response = await http.SendAsync(With(HttpBits.Packet(host.Url("api/x.bin"), "Ping"), "Bearer " + Token()), Ct);

        response.AssertAck(503);
        Assert.Equal("0x801901F7", response.Header("BITS-Error-Code")); // rule 6a.11: BG_E_HTTP_ERROR_503, not E_FAIL
    }

    [Fact]
    public async Task BypassAttempts_MethodOverrideCaseEncodingAndOtherVerbs_AreStillAuthenticated()
    {
        await using var host = await StartAsync();
        using var http = new HttpClient();
        var url = host.Url("secure/q4.bin");

        var overridden = HttpBits.Create(url);
        overridden.Method = HttpMethod.Post;
        overridden.Headers.Add("X-Http-Method-Override", "BITS_POST");
        var lowerCase = HttpBits.Packet(url, "create-session");
        lowerCase.Headers.Add("BITS-Supported-Protocols", "{7df0354d-249b-430f-820d-3d2a9bef4931}");
        foreach (var request in new[] { overridden, lowerCase, HttpBits.Packet(url, "PING"), HttpBits.Packet(url, "Ping", method: HttpMethod.Get), HttpBits.Packet(url, "Ping", method: HttpMethod.Put) })
        {
            using var response = await http.SendAsync(request, Ct);

            AssertChallenge(response, basic: true, bearer: true);
        }

        foreach (var target in new[] { "/uploads/%73ecure/q4.bin", "/uploads//secure/q4.bin", "/UPLOADS/secure/q4.bin", "/uploads/secure/q4.bin?area=public" })
        {
            var (status, headers) = await RawHttp.SendAsync(host.Root, target, "BITS_POST",
                [("BITS-Packet-Type", "Create-Session"), ("BITS-Supported-Protocols", "{7df0354d-249b-430f-820d-3d2a9bef4931}"), ("Content-Length", "0")]);

            Assert.True(status == 401, $"{target}: {status}");
            Assert.Equal("0x80070005", headers["BITS-Error-Code"]);
        }

        var (dotted, _) = await RawHttp.SendAsync(host.Root, "/uploads/public/%2e%2e/secure/q4.bin", "BITS_POST",
            [("BITS-Packet-Type", "Create-Session"), ("BITS-Supported-Protocols", "{7df0354d-249b-430f-820d-3d2a9bef4931}"), ("Content-Length", "0")]);
        Assert.Equal(400, dotted);
        Assert.Equal(0, await host.Storage.SessionRowCountAsync());
    }

    [Fact]
    public async Task BasicOverPlainHttp_IsRefusedUnlessAllowed()
    {
        await using var host = await StartAsync(allowBasicOverHttp: false);
        using var http = new HttpClient();
        var url = host.Url("basic/q4.bin");

        using var noCredentials = await http.SendAsync(HttpBits.Packet(url, "Ping"), Ct);
        using var credentials = await http.SendAsync(With(HttpBits.Packet(url, "Ping"), Basic("alice", "alice-pw")), Ct);
        using var bearerOnly = await http.SendAsync(HttpBits.Packet(host.Url("secure/q4.bin"), "Ping"), Ct);
        var forwarded = With(HttpBits.Packet(url, "Ping"), Basic("alice", "alice-pw"));
        forwarded.Headers.Add("X-Forwarded-Proto", "https");
        using var behindTls = await http.SendAsync(forwarded, Ct);
        await using var proxied = await StartAsync(allowBasicOverHttp: false, extra: new() { ["Bits:ForwardedHeaders:KnownProxies:0"] = "127.0.0.1" });
        var throughProxy = With(HttpBits.Packet(proxied.Url("basic/q4.bin"), "Ping"), Basic("alice", "alice-pw"));
        throughProxy.Headers.Add("X-Forwarded-Proto", "https");
        using var behindKnownProxy = await http.SendAsync(throughProxy, Ct);

        // Nothing can be offered over plain HTTP: a Basic-only area answers 403, it never invites a password in clear.
        noCredentials.AssertAck(403);
        Assert.Equal("0x80070005", noCredentials.Header("BITS-Error-Code"));
        Assert.Null(noCredentials.Header("WWW-Authenticate"));
        credentials.AssertAck(403);
        Assert.Equal("0x80070005", credentials.Header("BITS-Error-Code"));
        AssertChallenge(bearerOnly, basic: false, bearer: true);

        // X-Forwarded-Proto counts only from a configured proxy (Bits:ForwardedHeaders), not from any caller.
        behindTls.AssertAck(403);
        behindKnownProxy.AssertAck(200);
    }

    [Fact]
    public async Task Startup_RefusesBadAuthenticationSettings_WithoutEchoingSecrets()
    {
        var badHash = await Assert.ThrowsAnyAsync<OptionsValidationException>(() => StartAsync(extra: new() { ["Bits:Authentication:BasicUsers:dave"] = "plaintext-password" }));
        var noAuthority = await Assert.ThrowsAnyAsync<OptionsValidationException>(() => StartAsync(extra: new() { ["Bits:Authentication:BearerTokens:Authority"] = "" }));
        var closed = await Assert.ThrowsAnyAsync<OptionsValidationException>(() => StartAsync(extra: new()
        {
            ["Bits:Areas:closed:PathPrefix"] = "closed",
            ["Bits:Areas:closed:BlobPrefix"] = "closed/",
            ["Bits:Areas:closed:Authentication:AllowAnonymous"] = "false",
        }));

        Assert.Contains("Bits:Authentication:BasicUsers:dave", badHash.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("plaintext-password", badHash.Message, StringComparison.Ordinal);
        Assert.Contains("Bits:Authentication:BearerTokens:Authority", noAuthority.Message, StringComparison.Ordinal);
        Assert.Contains("Bits:Areas:closed:Authentication", closed.Message, StringComparison.Ordinal);
    }

    private static void AssertChallenge(HttpResponseMessage response, bool basic, bool bearer)
    {
        response.AssertAck(401);
        Assert.Equal("0x80070005", response.Header("BITS-Error-Code"));
        var challenges = response.Headers.WwwAuthenticate.Select(c => c.ToString()).ToList();
        var expected = new List<string>();
        if (basic)
        {
            expected.Add($"Basic realm=\"{Realm}\", charset=\"UTF-8\"");
        }

        if (bearer)
        {
            expected.Add(challenges.FirstOrDefault(c => c.StartsWith("Bearer", StringComparison.Ordinal)) ?? "Bearer");
        }

        Assert.Equal(expected, challenges);
    }

    private static HttpRequestMessage With(HttpRequestMessage request, string authorization)
    {
        request.Headers.TryAddWithoutValidation("Authorization", authorization);
        return request;
    }

    private static string Basic(string user, string password) =>
        "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password));

    private static RsaSecurityKey NewKey(string keyId) => new(RSA.Create(2048)) { KeyId = keyId };

    private static string Token(
        RsaSecurityKey? key = null, string audience = Audience, string issuer = Issuer, DateTime? notBefore = null, DateTime? expires = null, Dictionary<string, object>? claims = null)
    {
        var now = DateTime.UtcNow;
        var exp = expires ?? now.AddMinutes(30);
        var nbf = notBefore ?? (exp < now ? exp.AddHours(-1) : now.AddMinutes(-1));
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = audience,
            IssuedAt = nbf,
            NotBefore = nbf,
            Expires = exp,
            Claims = claims ?? new Dictionary<string, object> { ["preferred_username"] = BearerUser, ["oid"] = "00000000-1111-2222-3333-444444444444" },
            SigningCredentials = new SigningCredentials(key ?? SigningKey, SecurityAlgorithms.RsaSha256),
        });
    }

    private static async Task<string?> UploaderAsync(AuthHost host, string blob)
    {
        var properties = await host.Storage.Uploads.GetBlobClient(blob).GetPropertiesAsync(cancellationToken: Ct);
        return properties.Value.Metadata.TryGetValue("bitsuploader", out var user) ? Uri.UnescapeDataString(user) : null;
    }

    private async Task<AuthHost> StartAsync(bool allowBasicOverHttp = true, TestKeyProvider? keys = null, Dictionary<string, string?>? extra = null, RequestCounter? counter = null)
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        var settings = new Dictionary<string, string?>
        {
            ["Bits:Authentication:AllowBasicOverHttp"] = allowBasicOverHttp ? "true" : "false",
            ["Bits:Authentication:BasicUsers:alice"] = AliceHash,
            ["Bits:Authentication:BasicUsers:bob"] = BobHash,
            ["Bits:Authentication:BasicUsers:carol"] = CarolHash,
            ["Bits:Authentication:BearerTokens:Authority"] = Issuer,
            ["Bits:Authentication:BearerTokens:Audience"] = Audience,

            // secure: Basic or Bearer, named users only.
            ["Bits:Areas:secure:PathPrefix"] = "secure",
            ["Bits:Areas:secure:BlobPrefix"] = "secure/",
            ["Bits:Areas:secure:Authentication:AllowAnonymous"] = "false",
            ["Bits:Areas:secure:Authentication:Basic"] = "true",
            ["Bits:Areas:secure:Authentication:Bearer"] = "true",
            ["Bits:Areas:secure:Authentication:Realm"] = Realm,
            ["Bits:Areas:secure:Authentication:AllowedUsers:0"] = "alice",
            ["Bits:Areas:secure:Authentication:AllowedUsers:1"] = "bob",
            ["Bits:Areas:secure:Authentication:AllowedUsers:2"] = BearerUser,

            // api: bearer tokens only, any authenticated caller.
            ["Bits:Areas:api:PathPrefix"] = "api",
            ["Bits:Areas:api:BlobPrefix"] = "api/",
            ["Bits:Areas:api:Authentication:AllowAnonymous"] = "false",
            ["Bits:Areas:api:Authentication:Bearer"] = "true",

            // basic: Basic only.
            ["Bits:Areas:basic:PathPrefix"] = "basic",
            ["Bits:Areas:basic:BlobPrefix"] = "basic/",
            ["Bits:Areas:basic:Authentication:AllowAnonymous"] = "false",
            ["Bits:Areas:basic:Authentication:Basic"] = "true",
            ["Bits:Areas:basic:Authentication:Realm"] = Realm,

            // open: anonymous, or Basic when credentials are sent.
            ["Bits:Areas:open:PathPrefix"] = "open",
            ["Bits:Areas:open:BlobPrefix"] = "open/",
            ["Bits:Areas:open:Authentication:Basic"] = "true",
        };
        foreach (var (key, value) in extra ?? [])
        {
            settings[key] = value;
        }

        var provider = keys ?? new TestKeyProvider();
        var host = await TestHost.StartAsync(storage, settings, builder =>
        {
            builder.Services.AddSingleton<IBitsBearerKeyProvider>(provider);
            if (counter is not null)
            {
                var tableOptions = new TableClientOptions();
                tableOptions.AddPolicy(counter, HttpPipelinePosition.PerCall);
                var blobOptions = new BlobClientOptions();
                blobOptions.AddPolicy(counter, HttpPipelinePosition.PerCall);
                builder.Services.AddSingleton(new TableServiceClient(storage.ConnectionString, tableOptions));
                builder.Services.AddSingleton(new BlobServiceClient(storage.ConnectionString, blobOptions));
            }
        });
        return new AuthHost(host, storage);
    }

    /// <summary>A started host and its storage.</summary>
    private sealed class AuthHost(TestHost host, StorageNames storage) : IAsyncDisposable
    {
        public StorageNames Storage => storage;

        public IServiceProvider Services => host.Services;

        public Uri Root => host.Root;

        public Uri Url(string path) => host.Url(path);

        public ValueTask DisposeAsync() => host.DisposeAsync();
    }

    /// <summary>Signing keys from code (no network): the test key, as an issuer's metadata would give it.</summary>
    private sealed class TestKeyProvider : IBitsBearerKeyProvider
    {
        private int _refreshes;

        public bool Fail { get; init; }

        public int Refreshes => _refreshes;

        public Task<BitsBearerSigningKeys> GetSigningKeysAsync(CancellationToken cancellationToken) =>
            Fail ? throw new HttpRequestException("metadata unreachable") : Task.FromResult(new BitsBearerSigningKeys(Issuer, [SigningKey]));

        public void RequestRefresh() => Interlocked.Increment(ref _refreshes);
    }
}
