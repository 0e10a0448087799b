using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Bits.Host.Tests;

/// <summary>Every log entry as text: message, state values and exception.</summary>
internal sealed class LogCapture(ConcurrentQueue<string> lines) : ILoggerProvider, ILogger
{
    public ILogger CreateLogger(string categoryName) => this;

    public void Dispose()
    {
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var text = new StringBuilder(formatter(state, exception));
        if (state is IEnumerable<KeyValuePair<string, object?>> values)
        {
            foreach (var (key, value) in values)
            {
                text.Append(" | ").Append(key).Append('=').Append(value);
            }
        }

        if (exception is not null)
        {
            text.Append(" | ").Append(exception);
        }

        lines.Enqueue(text.ToString());
    }
}
