using Bits.Testing;

// One shared Azurite for the fault-proxy and host-crash tests; the restart tests start their own.
[assembly: AssemblyFixture(typeof(AzuriteFixture))]
