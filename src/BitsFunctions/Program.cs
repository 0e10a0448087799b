using BitsFunctions;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Hosting;

var builder = FunctionsApplication.CreateBuilder(args);
builder.ConfigureFunctionsWebApplication();
BitsFunctionsApp.ConfigureServices(builder.Services, builder.Configuration);
builder.Build().Run();
