namespace Bits.Protocol;

/// <summary>
/// A configuration key or section and the type bound from it (an options class, or a scalar such as <c>bool</c> for a
/// key read directly). Each registration declares one as a singleton; start-up then refuses any key under the declared
/// roots (<c>Bits</c>, <c>BitsStorage</c>) that none of them binds, so a misspelled or renamed setting fails loudly
/// instead of being ignored (<c>BitsSettingsCheck</c> in Bits.AspNetCore).
/// </summary>
/// <param name="Path">The section's path, e.g. <c>Bits:Janitor</c>.</param>
/// <param name="Type">The type bound from it: its public settable properties, dictionaries and lists are the keys below it.</param>
public sealed record BitsSettingsSection(string Path, Type Type);
