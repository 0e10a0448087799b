using Bits.Infra.Tests.Support;

[assembly: AssemblyFixture(typeof(CompiledMainTemplate))]
