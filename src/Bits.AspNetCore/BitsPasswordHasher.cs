using System.Globalization;
using System.Security.Cryptography;

namespace Bits.AspNetCore;

/// <summary>
/// Salted PBKDF2-SHA256 password hashes for <c>Bits:Authentication:BasicUsers:&lt;user&gt;</c>, written
/// <c>pbkdf2-sha256$&lt;iterations&gt;$&lt;base64 salt&gt;$&lt;base64 hash&gt;</c>. Checks compare in constant time and
/// never throw for a malformed hash string.
/// </summary>
public static class BitsPasswordHasher
{
    public const string Algorithm = "pbkdf2-sha256";

    /// <summary>OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256.</summary>
    public const int DefaultIterations = 210_000;

    /// <summary>Fewest iterations a hash string may name (tests use few; production hashes use the default).</summary>
    public const int MinIterations = 1_000;

    /// <summary>Most iterations a hash string may name, so a typo cannot make every request take minutes.</summary>
    public const int MaxIterations = 10_000_000;

    public const int SaltBytes = 16;

    public const int HashBytes = 32;

    private const int MinPartBytes = 16;
    private const int MaxPartBytes = 64;
    private const int MaxEncodedLength = 512;

    /// <summary>Stand-in compared against when a user name is unknown or its hash unusable, so the answer takes as long.</summary>
    private static readonly byte[] DummySalt = RandomNumberGenerator.GetBytes(SaltBytes);
    private static readonly byte[] DummyHash = RandomNumberGenerator.GetBytes(HashBytes);

    /// <summary>Hashes a password with a fresh random salt.</summary>
    public static string Hash(string password, int iterations = DefaultIterations)
    {
        ArgumentNullException.ThrowIfNull(password);
        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, MinIterations);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(iterations, MaxIterations);
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        var hash = Rfc2898DeriveBytes.Pbkdf2(password, salt, iterations, HashAlgorithmName.SHA256, HashBytes);
        return string.Create(CultureInfo.InvariantCulture, $"{Algorithm}${iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}");
    }

    /// <summary>Whether <paramref name="encoded"/> is a hash string this class can check.</summary>
    public static bool IsValidHash(string? encoded) => TryParse(encoded, out _, out _, out _);

    /// <summary>
    /// Whether <paramref name="password"/> matches <paramref name="encoded"/>. A malformed or missing hash string gives
    /// false after the same work as a real check (one PBKDF2 at the default iteration count).
    /// </summary>
    public static bool Verify(string password, string? encoded)
    {
        ArgumentNullException.ThrowIfNull(password);
        if (!TryParse(encoded, out var iterations, out var salt, out var expected))
        {
            VerifyDummy(password);
            return false;
        }

        var actual = Rfc2898DeriveBytes.Pbkdf2(password, salt, iterations, HashAlgorithmName.SHA256, expected.Length);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    /// <summary>Spends the time of a real check and returns false: for unknown user names.</summary>
    public static bool VerifyDummy(string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        var actual = Rfc2898DeriveBytes.Pbkdf2(password, DummySalt, DefaultIterations, HashAlgorithmName.SHA256, HashBytes);
        _ = CryptographicOperations.FixedTimeEquals(actual, DummyHash);
        return false;
    }

    internal static bool TryParse(string? encoded, out int iterations, out byte[] salt, out byte[] hash)
    {
        iterations = 0;
        salt = [];
        hash = [];
        if (string.IsNullOrEmpty(encoded) || encoded.Length > MaxEncodedLength)
        {
            return false;
        }

        var parts = encoded.Trim().Split('$');
        if (parts.Length != 4 || !string.Equals(parts[0], Algorithm, StringComparison.Ordinal))
        {
            return false;
        }

        if (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out iterations)
            || iterations is < MinIterations or > MaxIterations)
        {
            iterations = 0;
            return false;
        }

        if (!TryDecode(parts[2], out salt) || !TryDecode(parts[3], out hash))
        {
            iterations = 0;
            salt = [];
            hash = [];
            return false;
        }

        return true;
    }

    private static bool TryDecode(string text, out byte[] bytes)
    {
        bytes = [];
        var buffer = new byte[MaxPartBytes];
        if (!Convert.TryFromBase64String(text, buffer, out var written) || written < MinPartBytes)
        {
            return false;
        }

        bytes = buffer[..written];
        return true;
    }
}

/// <summary>
/// <c>hash-password [--iterations N]</c>: reads a password (one line) and prints the hash string to put in
/// <c>Bits:Authentication:BasicUsers:&lt;user&gt;</c>.
/// </summary>
public static class BitsPasswordCommand
{
    public const string Name = "hash-password";

    public static int Run(IReadOnlyList<string> args, Func<string?> readPassword, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(readPassword);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        var iterations = BitsPasswordHasher.DefaultIterations;
        for (var i = 0; i < args.Count; i++)
        {
            if (args[i] == "--iterations" && i + 1 < args.Count
                && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out iterations)
                && iterations is >= BitsPasswordHasher.MinIterations and <= BitsPasswordHasher.MaxIterations)
            {
                i++;
                continue;
            }

            error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"usage: {Name} [--iterations N]   (N from {BitsPasswordHasher.MinIterations} to {BitsPasswordHasher.MaxIterations}; default {BitsPasswordHasher.DefaultIterations})"));
            error.WriteLine("Reads the password from standard input and prints the value for Bits:Authentication:BasicUsers:<user>.");
            return 2;
        }

        var password = readPassword();
        if (string.IsNullOrEmpty(password))
        {
            error.WriteLine("No password was given on standard input.");
            return 1;
        }

        output.WriteLine(BitsPasswordHasher.Hash(password, iterations));
        return 0;
    }
}
