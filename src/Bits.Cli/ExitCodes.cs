namespace Bits.Cli;

/// <summary>The process exit codes of <c>bits</c> (the table in the README).</summary>
public static class ExitCodes
{
    /// <summary>The command did what it was asked.</summary>
    public const int Ok = 0;

    /// <summary>Bad arguments or options, a missing or unreadable source file, no password for <c>--user</c>.</summary>
    public const int Usage = 1;

    /// <summary>The server refused for good (4xx except 408/409, 501, 505, BG_E_TOO_LARGE, an invalid answer, ...).</summary>
    public const int ServerRefused = 2;

    /// <summary>Transient failures (network, 5xx, 408, 409) went on past <c>--retries</c>; running again later resumes.</summary>
    public const int TransientFailures = 3;

    /// <summary>The source file changed during the upload (BG_E_LOCAL_FILE_CHANGED).</summary>
    public const int SourceChanged = 4;

    /// <summary>A local file could not be written (the reply or the state file).</summary>
    public const int LocalError = 5;

    /// <summary>Cancelled with Ctrl+C (or SIGTERM); the state file stays for a resume.</summary>
    public const int Cancelled = 130;
}
