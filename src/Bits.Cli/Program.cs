using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Text;

namespace Bits.Cli;

/// <summary>The <c>bits</c> command line: upload, ping, cancel, status.</summary>
public static class Program
{
    public static Task<int> Main(string[] args)
    {
        var parsed = BuildRootCommand().Parse(args);
        if (parsed.Action is ParseErrorAction parseError)
        {
            parseError.ShowHelp = false; // the error alone (exit code 1); --help shows the usage
        }

        return parsed.InvokeAsync(new InvocationConfiguration());
    }

    public static RootCommand BuildRootCommand()
    {
        var header = new Option<string[]>("--header", "-H")
        {
            Description = "A header sent with every request, \"Name: value\" (repeatable), e.g. \"x-functions-key: <key>\".",
            HelpName = "Name: value",
            Arity = ArgumentArity.ZeroOrMore,
            AllowMultipleArgumentsPerToken = false,
        };
        var user = new Option<string?>("--user", "-u")
        {
            Description = "User name for HTTP Basic authentication; the password comes from --password-stdin, BITS_PASSWORD or a prompt.",
            HelpName = "name",
        };
        var passwordStdin = new Option<bool>("--password-stdin")
        {
            Description = "Read the password for --user from the first line of standard input.",
        };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print nothing but errors." };
        var json = new Option<bool>("--json") { Description = "Print the result as one JSON object on standard output." };
        var retries = new Option<int>("--retries")
        {
            Description = "Retries of one request after consecutive transient failures (network errors, 5xx, 408, 409).",
            DefaultValueFactory = _ => 8,
            HelpName = "count",
        };
        retries.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is < 0 or > 1000)
            {
                r.AddError("--retries must be between 0 and 1000.");
            }
        });
        var retryDelay = new Option<TimeSpan>("--retry-delay")
        {
            Description = "Delay before the first retry, doubled per consecutive failure up to 30 s: 2, 500ms, 2s, 1m.",
            DefaultValueFactory = _ => TimeSpan.FromSeconds(1),
            CustomParser = r => Parse<TimeSpan>(r, Duration.TryParse),
            HelpName = "duration",
        };
        var state = new Option<string?>("--state")
        {
            Description = "The state file of the upload (default: <file>.bits-state.json next to the file, or in the current folder).",
            HelpName = "path",
        };

        // bits upload <file> <url>
        var file = new Argument<string>("file") { Description = "The file to upload." };
        var url = new Argument<Uri>("url") { Description = "The upload URL, e.g. https://<app>/uploads/reports/q4.bin.", CustomParser = ParseUrl };
        var minFragment = SizeOption("--min-fragment", "Smallest fragment when the server answers 413 (default 5KiB).");
        var maxFragment = SizeOption("--max-fragment", "Largest fragment (default 13MiB).");
        var fragment = SizeOption("--fragment", "Size of the first fragment (default 1MiB); sizes take B, KB, MB, GB, KiB, MiB, GiB.");
        var reply = new Option<string?>("--reply")
        {
            Description = "Upload-reply: save the server's reply to this file (downloaded before the session is closed).",
            HelpName = "path",
        };
        var upload = new Command("upload", "Upload a file; an interrupted upload resumes when the same command runs again.")
        {
            file, url, header, user, passwordStdin, state, minFragment, maxFragment, fragment, retries, retryDelay, reply, quiet, json,
        };
        upload.SetAction((result, ct) => RunAsync(result, quiet, json, header, user, passwordStdin, (connection, output, token) =>
        {
            var target = result.GetRequiredValue(url);
            connection.AddUrlSecrets(target);
            var request = new UploadRequest(
                result.GetRequiredValue(file),
                target,
                result.GetValue(state),
                result.GetValue(minFragment),
                result.GetValue(maxFragment),
                result.GetValue(fragment),
                result.GetValue(retries),
                result.GetValue(retryDelay),
                result.GetValue(reply));
            return UploadCommand.RunAsync(request, connection, output, token);
        }, ct));

        // bits ping <url>
        var pingUrl = new Argument<Uri>("url") { Description = "The upload URL (or any URL under the BITS endpoint).", CustomParser = ParseUrl };
        var count = new Option<int>("--count", "-c") { Description = "Pings to send, one a second.", DefaultValueFactory = _ => 1, HelpName = "n" };
        count.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is < 1 or > 1000)
            {
                r.AddError("--count must be between 1 and 1000.");
            }
        });
        var ping = new Command("ping", "Send a BITS Ping and print the Ack and the round-trip time.") { pingUrl, count, header, user, passwordStdin, quiet, json };
        ping.SetAction((result, ct) => RunAsync(result, quiet, json, header, user, passwordStdin, (connection, output, token) =>
        {
            var target = result.GetRequiredValue(pingUrl);
            connection.AddUrlSecrets(target);
            return SessionCommands.PingAsync(target, result.GetValue(count), connection, output, token);
        }, ct));

        // bits cancel [<url>] --session <id> | --state <path>
        var cancelUrl = new Argument<Uri?>("url") { Description = "The upload URL (taken from the state file when omitted).", Arity = ArgumentArity.ZeroOrOne, CustomParser = ParseUrl };
        var session = new Option<string?>("--session") { Description = "The session id, e.g. {A0FF5911-...}.", HelpName = "id" };
        var cancelState = new Option<string?>("--state") { Description = "The state file of an interrupted upload; deleted once cancelled.", HelpName = "path" };
        var cancel = new Command("cancel", "Cancel an upload session on the server (Cancel-Session), from --session or a state file.")
        {
            cancelUrl, session, cancelState, header, user, passwordStdin, retries, retryDelay, quiet, json,
        };
        cancel.SetAction((result, ct) => RunAsync(result, quiet, json, header, user, passwordStdin, (connection, output, token) =>
            SessionCommands.CancelAsync(
                result.GetValue(cancelUrl),
                result.GetValue(session),
                result.GetValue(cancelState),
                result.GetValue(retries),
                result.GetValue(retryDelay),
                connection,
                output,
                token), ct));

        // bits status [<file>] [--state <path>]
        var statusFile = new Argument<string?>("file") { Description = "The file of the upload.", Arity = ArgumentArity.ZeroOrOne };
        var statusState = new Option<string?>("--state") { Description = "The state file to show.", HelpName = "path" };
        var status = new Command("status", "Show the state file of an interrupted upload and whether the file still matches it.") { statusFile, statusState, json };
        status.SetAction((result, ct) => RunAsync(result, null, json, null, null, null, (_, output, _) =>
            Task.FromResult(SessionCommands.Status(result.GetValue(statusFile), result.GetValue(statusState), output)), ct));

        return new RootCommand("bits: a BITS upload client (the protocol of Windows' Background Intelligent Transfer Service) for any platform.")
        {
            upload, ping, cancel, status,
        };
    }

    private static async Task<int> RunAsync(
        ParseResult result,
        Option<bool>? quietOption,
        Option<bool> jsonOption,
        Option<string[]>? headerOption,
        Option<string?>? userOption,
        Option<bool>? passwordStdinOption,
        Func<Connection, Output, CancellationToken, Task<int>> run,
        CancellationToken ct)
    {
        var quiet = quietOption is not null && result.GetValue(quietOption);
        var json = result.GetValue(jsonOption);
        var output = new Output(Console.Out, Console.Error, quiet, json, null);
        Connection connection;
        try
        {
            connection = Connection.Create(
                headerOption is null ? [] : result.GetValue(headerOption) ?? [],
                userOption is null ? null : result.GetValue(userOption),
                passwordStdinOption is not null && result.GetValue(passwordStdinOption),
                Console.In.ReadLine,
                PromptPassword);
        }
        catch (UsageException ex)
        {
            return output.Finish(output.Fail(ex, cancelled: false));
        }

        output = new Output(Console.Out, Console.Error, quiet, json, connection);
        try
        {
            return await run(connection, output, ct);
        }
        catch (Exception ex)
        {
            return output.Finish(output.Fail(ex, ct.IsCancellationRequested));
        }
    }

    private static Option<long?> SizeOption(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "size",
        CustomParser = r => Parse<long>(r, ByteSize.TryParse),
    };

    private delegate bool TryParser<T>(string? text, out T value, out string? error);

    private static T Parse<T>(ArgumentResult result, TryParser<T> parser)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : null;
        if (!parser(text, out var value, out var error))
        {
            result.AddError(error!);
        }

        return value;
    }

    private static Uri? ParseUrl(ArgumentResult result)
    {
        if (result.Tokens.Count == 0)
        {
            return null;
        }

        var text = result.Tokens[0].Value;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || string.IsNullOrEmpty(uri.Host))
        {
            result.AddError($"'{text}' is not an http:// or https:// URL.");
            return null;
        }

        return uri;
    }

    /// <summary>A password typed at a terminal without echo; null when standard input is not a terminal.</summary>
    private static string? PromptPassword()
    {
        if (Console.IsInputRedirected)
        {
            return null;
        }

        Console.Error.Write("Password: ");
        var password = new StringBuilder();
        for (var key = Console.ReadKey(intercept: true); key.Key != ConsoleKey.Enter; key = Console.ReadKey(intercept: true))
        {
            if (key.Key == ConsoleKey.Backspace)
            {
                if (password.Length > 0)
                {
                    password.Length--;
                }
            }
            else if (!char.IsControl(key.KeyChar))
            {
                password.Append(key.KeyChar);
            }
        }

        Console.Error.WriteLine();
        return password.ToString();
    }
}
