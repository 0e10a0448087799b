using System.Reflection;
using System.Reflection.Emit;

namespace BitsFunctions.Tests;

/// <summary>Finds the property getters that compiled code calls, by reading the IL of every method of some assemblies.</summary>
internal static class PropertyReads
{
    private static readonly Dictionary<short, OpCode> OpCodesByValue =
        typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (OpCode)f.GetValue(null)!).ToDictionary(o => o.Value);

    /// <summary>
    /// The methods called (<c>call</c>, <c>callvirt</c>, <c>ldftn</c>...) from methods of <paramref name="assemblies"/>
    /// whose outermost declaring type passes <paramref name="countCaller"/> (lambdas and async state machines count as
    /// their enclosing type).
    /// </summary>
    public static HashSet<MethodBase> Getters(IEnumerable<Assembly> assemblies, Func<Type, bool> countCaller)
    {
        var called = new HashSet<MethodBase>();
        foreach (var type in assemblies.SelectMany(a => a.GetTypes()))
        {
            var outer = type;
            while (outer.DeclaringType is { } declaring)
            {
                outer = declaring;
            }

            if (!countCaller(outer))
            {
                continue;
            }

            const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
            foreach (var method in type.GetMethods(All).Cast<MethodBase>().Concat(type.GetConstructors(All)))
            {
                if (method.GetMethodBody()?.GetILAsByteArray() is { } il)
                {
                    Calls(method, il, called);
                }
            }
        }

        return called;
    }

    private static void Calls(MethodBase method, byte[] il, HashSet<MethodBase> called)
    {
        for (var i = 0; i < il.Length;)
        {
            var value = il[i] == 0xFE ? (short)(0xFE00 | il[i + 1]) : il[i];
            var opCode = OpCodesByValue[value];
            i += opCode.Size;
            if (opCode.OperandType == OperandType.InlineMethod)
            {
                var token = BitConverter.ToInt32(il, i);
                try
                {
                    var target = method.Module.ResolveMethod(
                        token, method.DeclaringType?.IsGenericType == true ? method.DeclaringType.GetGenericArguments() : null,
                        method.IsGenericMethod ? method.GetGenericArguments() : null);
                    if (target is MethodInfo { IsSpecialName: true } getter && getter.Name.StartsWith("get_", StringComparison.Ordinal))
                    {
                        called.Add(getter.DeclaringType!.GetProperty(getter.Name[4..], BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static)?.GetMethod ?? getter);
                    }
                }
                catch (ArgumentException)
                {
                    // A generic member whose context this pass does not model; options getters are never generic.
                }
            }

            i += opCode.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + (4 * BitConverter.ToInt32(il, i)),
                _ => 4,
            };
        }
    }
}
