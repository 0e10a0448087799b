using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Bits.AspNetCore;

/// <summary>Registration of the session-expiry janitor.</summary>
public static class BitsJanitorExtensions
{
    internal static IServiceCollection AddBitsJanitor(this IServiceCollection services, IConfiguration configuration) => services;
}
