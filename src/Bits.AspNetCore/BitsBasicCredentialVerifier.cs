using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Bits.AspNetCore;

/// <summary>
/// Checks HTTP Basic user names and passwords against <see cref="BitsAuthServerOptions.BasicUsers"/>.
/// </summary>
/// <remarks>
/// A PBKDF2 check at 210,000 iterations costs tens of milliseconds of CPU, and a BITS upload sends the same credentials
/// with every packet (Ping, Create-Session, each Fragment, Close-Session). So successful checks are remembered for
/// <see cref="CacheLifetime"/>: this is a per-process cache of verification results, not session state (any instance
/// still serves any packet; an instance without the entry simply runs PBKDF2 once). Entries are keyed by an HMAC of
/// user name and password under a random per-process key, so the cache holds neither passwords nor plain digests of
/// them; an entry only counts while the configured hash it was checked against is unchanged, so rotating a password
/// takes effect at once. Failed checks are never cached: each costs a full PBKDF2, which also slows guessing.
/// </remarks>
public sealed class BitsBasicCredentialVerifier
{
    public static readonly TimeSpan CacheLifetime = TimeSpan.FromMinutes(5);

    private const int MaxCacheEntries = 4096;

    private readonly IOptionsMonitor<BitsAuthServerOptions> _options;
    private readonly TimeProvider _time;
    private readonly byte[] _cacheKey = RandomNumberGenerator.GetBytes(32);
    private readonly ConcurrentDictionary<string, CacheEntry> _cache = new(StringComparer.Ordinal);
    private long _derivations;

    public BitsBasicCredentialVerifier(IOptionsMonitor<BitsAuthServerOptions> options, TimeProvider time)
    {
        _options = options;
        _time = time;
    }

    /// <summary>PBKDF2 derivations run so far (diagnostics: with the cache, one per user and password per lifetime).</summary>
    public long Derivations => Interlocked.Read(ref _derivations);

    /// <summary>Whether the credentials are valid; <paramref name="userName"/> is the user name as configured.</summary>
    public bool TryVerify(string user, string password, [NotNullWhen(true)] out string? userName)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(password);
        userName = null;
        string? configuredName = null;
        string? stored = null;
        foreach (var (name, hash) in _options.CurrentValue.BasicUsers)
        {
            if (string.Equals(name, user, StringComparison.OrdinalIgnoreCase))
            {
                configuredName = name;
                stored = hash;
                break;
            }
        }

        if (configuredName is null || stored is null)
        {
            Interlocked.Increment(ref _derivations);
            // Same cost as a real check, so response times do not tell which user names exist.
            return BitsPasswordHasher.VerifyDummy(password);
        }

        var key = CacheKey(configuredName, password);
        var now = _time.GetUtcNow();
        if (_cache.TryGetValue(key, out var entry) && entry.Expires > now && string.Equals(entry.StoredHash, stored, StringComparison.Ordinal))
        {
            userName = configuredName;
            return true;
        }

        Interlocked.Increment(ref _derivations);
        if (!BitsPasswordHasher.Verify(password, stored))
        {
            _cache.TryRemove(key, out _);
            return false;
        }

        if (_cache.Count >= MaxCacheEntries)
        {
            Prune(now);
        }

        _cache[key] = new CacheEntry(stored, now + CacheLifetime);
        userName = configuredName;
        return true;
    }

    private string CacheKey(string user, string password)
    {
        var input = Encoding.UTF8.GetBytes(user + "\0" + password);
        try
        {
            return Convert.ToHexString(HMACSHA256.HashData(_cacheKey, input));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(input);
        }
    }

    private void Prune(DateTimeOffset now)
    {
        foreach (var (key, entry) in _cache)
        {
            if (entry.Expires <= now)
            {
                _cache.TryRemove(key, out _);
            }
        }

        if (_cache.Count >= MaxCacheEntries)
        {
            _cache.Clear();
        }
    }

    private sealed record CacheEntry(string StoredHash, DateTimeOffset Expires);
}
