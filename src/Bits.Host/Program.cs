using System.Text;
using Bits.AspNetCore;
using Bits.Host;

if (args is [BitsPasswordCommand.Name, .. var rest])
{
    // dotnet Bits.Host.dll hash-password [--iterations N] < password.txt
    return BitsPasswordCommand.Run(rest, ReadPassword, Console.Out, Console.Error);
}

var app = BitsHostApp.Build(args);
await app.RunAsync();
return 0;

// One line from standard input; typed at a terminal, it is read without echo.
static string? ReadPassword()
{
    if (Console.IsInputRedirected)
    {
        return Console.In.ReadLine();
    }

    Console.Error.Write("Password: ");
    var password = new StringBuilder();
    for (var key = Console.ReadKey(intercept: true); key.Key != ConsoleKey.Enter; key = Console.ReadKey(intercept: true))
    {
        if (key.Key == ConsoleKey.Backspace)
        {
            if (password.Length > 0)
            {
                password.Length--;
            }
        }
        else if (!char.IsControl(key.KeyChar))
        {
            password.Append(key.KeyChar);
        }
    }

    Console.Error.WriteLine();
    return password.ToString();
}
