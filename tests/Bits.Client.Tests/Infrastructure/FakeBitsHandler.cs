namespace Bits.Client.Tests.Infrastructure;

/// <summary>An in-memory HttpMessageHandler: records every request and answers with a scripted responder.</summary>
public sealed class FakeBitsHandler(Func<RecordedRequest, int, HttpResponseMessage> responder) : HttpMessageHandler
{
    private readonly List<RecordedRequest> _requests = [];

    public IReadOnlyList<RecordedRequest> Requests
    {
        get
        {
            lock (_requests)
            {
                return [.. _requests];
            }
        }
    }

    public IEnumerable<RecordedRequest> Packets(string packetType)
        => Requests.Where(r => string.Equals(r.PacketType, packetType, StringComparison.OrdinalIgnoreCase));

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var recorded = await RecordedRequest.CaptureAsync(request, cancellationToken);
        int index;
        lock (_requests)
        {
            index = _requests.Count;
            _requests.Add(recorded);
        }

        var response = responder(recorded, index);
        response.RequestMessage = request;
        return response;
    }
}
