namespace Bits.Load;

/// <summary>Counts the responses the clients receive (5xx in particular) and the requests sent.</summary>
public sealed class CountingHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    private long _requests;
    private long _serverErrors;

    public long Requests => Interlocked.Read(ref _requests);

    public long ServerErrors => Interlocked.Read(ref _serverErrors);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _requests);
        var response = await base.SendAsync(request, cancellationToken);
        if ((int)response.StatusCode >= 500)
        {
            Interlocked.Increment(ref _serverErrors);
        }

        return response;
    }
}

/// <summary>
/// Sends each request of one client to the next host in turn (a farm without affinity); the request's own host is
/// replaced. Does not own <paramref name="inner"/>: many clients share one connection pool.
/// </summary>
public sealed class AlternatingHandler(HttpMessageHandler inner, IReadOnlyList<Uri> hosts) : HttpMessageHandler
{
    private readonly HttpMessageInvoker _inner = new(inner, disposeHandler: false);
    private int _count;

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var target = hosts[(Interlocked.Increment(ref _count) - 1) % hosts.Count];
        request.RequestUri = new UriBuilder(request.RequestUri!) { Host = target.Host, Port = target.Port }.Uri;
        return _inner.SendAsync(request, cancellationToken);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
