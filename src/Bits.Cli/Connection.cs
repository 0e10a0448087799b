using System.Net;
using System.Text;
using Bits.Client;

namespace Bits.Cli;

/// <summary>Custom headers and Basic credentials for every request, and the secrets never to print.</summary>
public sealed class Connection
{
    private static readonly string[] SecretQueryKeys = ["code", "sig", "key", "token", "access_token", "password"];

    private readonly List<string> _secrets = [];

    public Dictionary<string, string> Headers { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Whether an <c>Authorization</c> header is sent (from <c>--user</c> or <c>--header</c>).</summary>
    public bool HasAuthorization => Headers.ContainsKey("Authorization");

    /// <summary>
    /// Parses <c>--header "Name: value"</c> lines and the Basic credentials. The password comes from standard input
    /// (<paramref name="passwordFromStdin"/>), else <c>BITS_PASSWORD</c>, else a prompt when standard input is a terminal.
    /// </summary>
    public static Connection Create(IEnumerable<string> headerLines, string? user, bool passwordFromStdin, Func<string?> readStdinLine, Func<string?> prompt)
    {
        var connection = new Connection();
        foreach (var line in headerLines)
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var name = colon > 0 ? line[..colon].Trim() : string.Empty;
            var value = colon > 0 ? line[(colon + 1)..].Trim() : string.Empty;
            if (name.Length == 0 || name.Any(c => c <= ' ' || c >= 0x7F || "()<>@,;:\\\"/[]?={}".Contains(c, StringComparison.Ordinal)))
            {
                throw new UsageException($"--header '{line}' is not a header: write \"Name: value\", e.g. --header \"x-functions-key: <key>\".");
            }

            if (value.Any(c => c is '\r' or '\n' or '\0'))
            {
                throw new UsageException($"--header '{name}' has a line break in its value.");
            }

            connection.Headers[name] = value;
            connection.AddSecret(value);
        }

        if (user is not null)
        {
            if (user.Length == 0 || user.Contains(':', StringComparison.Ordinal))
            {
                throw new UsageException("--user needs a user name without ':' (Basic authentication cannot carry one).");
            }

            string? password;
            if (passwordFromStdin)
            {
                password = readStdinLine() ?? throw new UsageException("--password-stdin: standard input ended before a password line.");
            }
            else if (Environment.GetEnvironmentVariable("BITS_PASSWORD") is { } fromEnvironment)
            {
                password = fromEnvironment;
            }
            else
            {
                password = prompt() ?? throw new UsageException("--user needs a password: pipe it with --password-stdin, or set BITS_PASSWORD.");
            }

            password = password.TrimEnd('\r', '\n');
            connection.Headers["Authorization"] = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password));
            connection.AddSecret(password);
            connection.AddSecret(connection.Headers["Authorization"]);
        }
        else if (passwordFromStdin)
        {
            throw new UsageException("--password-stdin needs --user.");
        }

        return connection;
    }

    /// <summary>Remembers the secret query values of a URL (e.g. a function key in <c>?code=</c>) so they are never printed.</summary>
    public void AddUrlSecrets(Uri url)
    {
        foreach (var pair in url.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0 && SecretQueryKeys.Contains(pair[..equals], StringComparer.OrdinalIgnoreCase))
            {
                AddSecret(pair[(equals + 1)..]);
                AddSecret(WebUtility.UrlDecode(pair[(equals + 1)..]));
            }
        }
    }

    /// <summary>The text with every known secret replaced by "***".</summary>
    public string Redact(string? text)
    {
        var result = text ?? string.Empty;
        foreach (var secret in _secrets.OrderByDescending(s => s.Length))
        {
            result = result.Replace(secret, "***", StringComparison.Ordinal);
        }

        return result;
    }

    public string Redact(Uri url) => Redact(url.AbsoluteUri);

    /// <summary>Client options carrying these headers.</summary>
    public BitsClientOptions CreateOptions(bool withHeaders = true)
    {
        var options = new BitsClientOptions();
        if (withHeaders)
        {
            foreach (var (name, value) in Headers)
            {
                options.CustomHeaders[name] = value;
            }
        }

        return options;
    }

    private void AddSecret(string value)
    {
        if (value.Length >= 3 && !_secrets.Contains(value))
        {
            _secrets.Add(value);
        }
    }
}

/// <summary>A mistake on the command line: exit code 1 with the message.</summary>
public sealed class UsageException(string message) : Exception(message);
