using System.Diagnostics;
using Bits.AspNetCore;
using Bits.Testing;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Bits.Host.Tests;

/// <summary>The PBKDF2 hash strings of Basic users, the verification cache and the hash-password command.</summary>
public class PasswordHasherTests
{
    [Fact]
    public void Hash_RoundTrips_AndUsesTheDocumentedFormat()
    {
        var hash = BitsPasswordHasher.Hash("correct horse", 1000);
        var parts = hash.Split('$');

        Assert.True(BitsPasswordHasher.Verify("correct horse", hash));
        Assert.False(BitsPasswordHasher.Verify("correct horse ", hash));
        Assert.False(BitsPasswordHasher.Verify("Correct horse", hash));
        Assert.False(BitsPasswordHasher.Verify("", hash));
        Assert.Equal(["pbkdf2-sha256", "1000"], parts[..2]);
        Assert.Equal(16, Convert.FromBase64String(parts[2]).Length);
        Assert.Equal(32, Convert.FromBase64String(parts[3]).Length);
        Assert.NotEqual(hash, BitsPasswordHasher.Hash("correct horse", 1000)); // fresh salt each time
    }

    [Fact]
    public void Hash_DefaultsTo210000Iterations()
    {
        var hash = BitsPasswordHasher.Hash("pw");

        Assert.StartsWith("pbkdf2-sha256$210000$", hash, StringComparison.Ordinal);
        Assert.True(BitsPasswordHasher.Verify("pw", hash));
    }

    public static TheoryData<string> MalformedHashes()
    {
        var salt = Convert.ToBase64String(new byte[16]);
        var hash = Convert.ToBase64String(new byte[32]);
        return new TheoryData<string>
        {
            "",
            "pw",
            "plaintext-password",
            $"pbkdf2-sha1$1000${salt}${hash}",
            $"PBKDF2-SHA256$1000${salt}${hash}",
            $"pbkdf2-sha256$$${salt}${hash}",
            $"pbkdf2-sha256$abc${salt}${hash}",
            $"pbkdf2-sha256$-1000${salt}${hash}",
            $"pbkdf2-sha256$0${salt}${hash}",
            $"pbkdf2-sha256$999${salt}${hash}",
            $"pbkdf2-sha256$99999999999${salt}${hash}",
            $"pbkdf2-sha256$1000$!!!${hash}",
            $"pbkdf2-sha256$1000${salt}$not base64",
            $"pbkdf2-sha256$1000${Convert.ToBase64String(new byte[8])}${hash}",
            $"pbkdf2-sha256$1000${salt}${Convert.ToBase64String(new byte[100])}",
            $"pbkdf2-sha256$1000${salt}",
            $"pbkdf2-sha256$1000${salt}${hash}$extra",
            "pbkdf2-sha256$1000$" + new string('A', 600),
        };
    }

    [Theory]
    [MemberData(nameof(MalformedHashes))]
    public void MalformedHashStrings_AreRejected_WithoutExceptions(string encoded)
    {
        Assert.False(BitsPasswordHasher.IsValidHash(null));
        Assert.False(BitsPasswordHasher.Verify("pw", null));
        Assert.False(BitsPasswordHasher.IsValidHash(encoded));
        Assert.False(BitsPasswordHasher.Verify("pw", encoded));
    }

    [Fact]
    public void Verify_ComparesInConstantTime()
    {
        // The comparison itself cannot be timed reliably in a test; check that the code uses the constant-time primitive
        // and no ordinary comparison of the derived bytes.
        var source = File.ReadAllText(Path.Combine(RepositoryRoot.Find(), "src", "Bits.AspNetCore", "BitsPasswordHasher.cs"));

        Assert.Contains("CryptographicOperations.FixedTimeEquals(actual, expected)", source, StringComparison.Ordinal);
        Assert.DoesNotContain("SequenceEqual", source, StringComparison.Ordinal);
    }

    [Fact]
    public void Verifier_CachesSuccessesForFiveMinutes_AndNeverFailures()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = new BitsAuthServerOptions();
        options.BasicUsers["Alice"] = BitsPasswordHasher.Hash("pw", 1000);
        var verifier = new BitsBasicCredentialVerifier(new StaticMonitor(options), time);

        Assert.True(verifier.TryVerify("alice", "pw", out var name));
        Assert.Equal("Alice", name); // the configured spelling is the recorded user
        Assert.True(verifier.TryVerify("ALICE", "pw", out _));
        Assert.Equal(1, verifier.Derivations);

        Assert.False(verifier.TryVerify("alice", "wrong", out _));
        Assert.False(verifier.TryVerify("alice", "wrong", out _));
        Assert.False(verifier.TryVerify("mallory", "pw", out _));
        Assert.Equal(4, verifier.Derivations); // failures and unknown users always pay a full PBKDF2

        time.Advance(TimeSpan.FromMinutes(6));
        Assert.True(verifier.TryVerify("alice", "pw", out _));
        Assert.Equal(5, verifier.Derivations);

        // Rotating the password takes effect at once, cache or not.
        options.BasicUsers["Alice"] = BitsPasswordHasher.Hash("new-pw", 1000);
        Assert.False(verifier.TryVerify("alice", "pw", out _));
        Assert.True(verifier.TryVerify("alice", "new-pw", out _));
    }

    [Fact]
    public void HashPasswordCommand_PrintsAHashOfTheLineRead()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        var exit = BitsPasswordCommand.Run(["--iterations", "1000"], () => "s3cret pw", output, error);

        Assert.Equal(0, exit);
        Assert.True(BitsPasswordHasher.Verify("s3cret pw", output.ToString().Trim()));
        Assert.Equal(1, BitsPasswordCommand.Run([], () => null, output, error));
        Assert.Equal(2, BitsPasswordCommand.Run(["--iterations", "5"], () => "pw", output, error));
        Assert.Equal(2, BitsPasswordCommand.Run(["--bogus"], () => "pw", output, error));
    }

    [Fact]
    public async Task HostExecutable_HashPassword_ReadsStdinAndPrintsTheHash()
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "Bits.Host.dll"), "hash-password", "--iterations", "1000" })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        await process.StandardInput.WriteLineAsync("from stdin".AsMemory(), TestContext.Current.CancellationToken);
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);

        Assert.Equal(0, process.ExitCode);
        Assert.True(BitsPasswordHasher.Verify("from stdin", output.Trim()));
    }

    private sealed class StaticMonitor(BitsAuthServerOptions value) : IOptionsMonitor<BitsAuthServerOptions>
    {
        public BitsAuthServerOptions CurrentValue => value;

        public BitsAuthServerOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<BitsAuthServerOptions, string?> listener) => null;
    }
}
