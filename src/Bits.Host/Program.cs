using Bits.Host;

var app = BitsHostApp.Build(args);
await app.RunAsync();
