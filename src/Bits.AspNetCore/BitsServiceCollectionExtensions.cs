using Bits.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Bits.AspNetCore;

public static class BitsServiceCollectionExtensions
{
    /// <summary>
    /// Composes the server from its parts: the protocol core (<see cref="BitsProtocolServiceCollectionExtensions.AddBitsProtocol"/>,
    /// section <c>Bits</c>), the session janitor and authentication, all validated at start-up. The store is registered
    /// by the host beside it (<c>AddAzureBitsStorage</c> in <c>Bits.Storage.Azure</c>); start-up fails when none is, or
    /// when it lacks a feature a configured area uses (<see cref="BitsStoreFeatures"/>).
    /// </summary>
    public static IServiceCollection AddBitsUploadServer(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddBitsProtocol(configuration);
        services.AddMetrics().TryAddSingleton<BitsMetrics>();
        services.AddBitsJanitor(configuration);
        services.AddBitsAuthentication(configuration);
        services.AddBitsSettingsCheck(configuration);
        return services;
    }

    /// <summary>
    /// Maps every method on <c>{prefix}/{**path}</c> to the BITS handler (BITS_POST is not a standard verb). A fallback
    /// also catches requests whose raw target is under the prefix but whose normalised path is not (for example
    /// <c>/uploads/a/%2e%2e/%2e%2e/x</c>), so they get a BITS Ack refusing the name instead of a bare 404.
    /// </summary>
    public static IEndpointConventionBuilder MapBitsUploads(this IEndpointRouteBuilder endpoints, string prefix = "/uploads")
    {
        var trimmed = "/" + prefix.Trim('/');
        endpoints.MapFallback("{**path}", (HttpContext context) =>
        {
            if (BitsHttp.IsUnderPrefix(context, trimmed))
            {
                return BitsHttp.HandleAsync(context, trimmed);
            }

            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        });
        return endpoints.Map(trimmed + "/{**path}", (HttpContext context) => BitsHttp.HandleAsync(context, trimmed))
            .WithDisplayName("BITS uploads");
    }
}
