using Bits.AspNetCore;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace BitsFunctions;

/// <summary>
/// The one HTTP trigger: every request under <c>/uploads/</c>, whatever its method, goes to the shared BITS handler.
/// No methods are listed on purpose: the host then accepts any verb, including the non-standard <c>BITS_POST</c>.
/// </summary>
public static class BitsUploadFunction
{
    public const string Name = "BitsUpload";

    [Function(Name)]
    public static async Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Function, Route = "uploads/{*path}")] HttpRequest request)
    {
        await BitsHttp.HandleAsync(request.HttpContext, BitsFunctionsApp.RoutePrefix);

        // The Ack is already written to the response; an empty result leaves it as it is.
        return new EmptyResult();
    }
}
