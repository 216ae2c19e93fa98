using Mono.Cecil;

namespace DigitParity.Tests;

/// <summary>
/// The library's namespaces form layers, and each uses only the layers below it: reads the compiled assembly (every
/// signature, field, attribute and instruction) and fails naming each type that reaches up or sideways.
/// </summary>
public sealed class LayeringTests
{
    // Bottom first. A namespace may use those of earlier layers only; namespaces of one layer do not use each other.
    private static readonly string[][] Layers =
    [
        ["Engine"],
        ["IO"],
        ["Tasks"],
        ["Data", "Model"],
        ["Metrics"],
        ["Optimizers"],
        ["Checkpoints"],
        ["Inference"],
        ["Reporting", "Export"],
        ["Training"],
        ["Performance"],
    ];

    [Fact]
    public void EveryNamespaceUsesOnlyTheLayersBelowIt()
    {
        var rank = Layers.SelectMany((layer, i) => layer.Select(name => (Name: "DigitParity." + name, Rank: i))).ToDictionary(p => p.Name, p => p.Rank);
        using var module = ModuleDefinition.ReadModule(typeof(Model.MultiTaskNetwork).Assembly.Location);
        var violations = new SortedSet<string>();
        var namespaces = new HashSet<string>();
        foreach (var type in module.GetTypes())
        {
            string from = TopLevel(type).Namespace;
            if (from.Length == 0) continue; // <Module>, compiler-generated helpers
            namespaces.Add(from);
            Assert.True(rank.ContainsKey(from), $"{from} is in no layer: add it to LayeringTests.Layers");
            foreach (var used in Uses(type))
            {
                if (used.Scope != module && used.Module != module) continue;
                TypeDefinition? definition;
                try
                {
                    definition = used.Resolve();
                }
                catch (AssemblyResolutionException)
                {
                    continue; // another assembly's type
                }
                if (definition is null || definition.Module != module) continue;
                string to = TopLevel(definition).Namespace;
                if (to.Length == 0 || to == from) continue;
                if (!rank.TryGetValue(to, out int target) || target >= rank[from])
                    violations.Add($"{TopLevel(type).FullName} ({from}) uses {definition.FullName} ({to})");
            }
        }
        Assert.True(violations.Count == 0, "Dependencies that point up or sideways:\n" + string.Join("\n", violations));
        Assert.Contains("DigitParity.Engine", namespaces); // the reader saw the library, not an empty module
        Assert.True(namespaces.Count >= 10, $"only {namespaces.Count} namespaces read");
    }

    [Fact]
    public void TheCheckFindsADependencyThatPointsUp()
    {
        // The oracle of the check itself: Training really uses Model, so Model using Training would be reported.
        using var module = ModuleDefinition.ReadModule(typeof(Model.MultiTaskNetwork).Assembly.Location);
        var trainer = module.GetType("DigitParity.Training.Trainer");
        Assert.Contains(Uses(trainer), t => t.FullName == "DigitParity.Model.MultiTaskNetwork");
        Assert.Contains(Uses(trainer), t => t.FullName == "DigitParity.Engine.WorkerPool");
    }

    private static TypeDefinition TopLevel(TypeDefinition type)
    {
        while (type.DeclaringType is not null) type = type.DeclaringType;
        return type;
    }

    // Every type a definition names: base, interfaces, attributes, fields, properties, events, signatures, locals and
    // the operands of its instructions, with their generic arguments and element types.
    private static IEnumerable<TypeReference> Uses(TypeDefinition type)
    {
        var found = new List<TypeReference>();
        void Add(TypeReference? t)
        {
            switch (t)
            {
                case null: return;
                case GenericInstanceType g:
                    Add(g.ElementType);
                    foreach (var a in g.GenericArguments) Add(a);
                    return;
                case TypeSpecification s:
                    Add(s.ElementType);
                    return;
                case GenericParameter p:
                    foreach (var c in p.Constraints) Add(c.ConstraintType);
                    return;
                default:
                    found.Add(t);
                    return;
            }
        }
        void Attributes(ICustomAttributeProvider provider)
        {
            foreach (var a in provider.CustomAttributes) Add(a.AttributeType);
        }
        void Method(MethodReference m)
        {
            Add(m.DeclaringType);
            Add(m.ReturnType);
            foreach (var p in m.Parameters) Add(p.ParameterType);
            if (m is GenericInstanceMethod g) foreach (var a in g.GenericArguments) Add(a);
        }
        Add(type.BaseType);
        foreach (var i in type.Interfaces) Add(i.InterfaceType);
        foreach (var p in type.GenericParameters) Add(p);
        Attributes(type);
        foreach (var f in type.Fields) { Add(f.FieldType); Attributes(f); }
        foreach (var p in type.Properties) { Add(p.PropertyType); Attributes(p); }
        foreach (var e in type.Events) Add(e.EventType);
        foreach (var m in type.Methods)
        {
            Method(m);
            Attributes(m);
            foreach (var p in m.GenericParameters) Add(p);
            if (!m.HasBody) continue;
            foreach (var v in m.Body.Variables) Add(v.VariableType);
            foreach (var instruction in m.Body.Instructions)
            {
                switch (instruction.Operand)
                {
                    case TypeReference t: Add(t); break;
                    case MethodReference r: Method(r); break;
                    case FieldReference f: Add(f.DeclaringType); Add(f.FieldType); break;
                    case CallSite c:
                        Add(c.ReturnType);
                        foreach (var p in c.Parameters) Add(p.ParameterType);
                        break;
                }
            }
        }
        return found;
    }
}
