namespace DigitParity.Tasks;

/// <summary>
/// One prediction task of the network: a head with <see cref="ClassCount"/> outputs whose label is a
/// function of the digit (class index). Adding a derived task is one line, e.g.
/// <c>new TaskDefinition("gt4", 2, d => d > 4 ? 1 : 0)</c>.
/// </summary>
/// <param name="Name">Name used in output, metrics and checkpoints.</param>
/// <param name="ClassCount">Number of classes of this task (the head's width).</param>
/// <param name="LabelOf">Maps a digit (class index) to this task's label in <c>[0, ClassCount)</c>.</param>
/// <param name="ClassNames">Display names of the classes; null means "0", "1", ...</param>
public sealed record TaskDefinition(string Name, int ClassCount, Func<int, int> LabelOf, IReadOnlyList<string>? ClassNames = null)
{
    /// <summary>The digit itself, 0-9.</summary>
    public static TaskDefinition Digit { get; } = new("digit", 10, d => d);

    /// <summary>Parity of the digit: 0 = even, 1 = odd.</summary>
    public static TaskDefinition Parity { get; } = new("parity", 2, d => d % 2, ["even", "odd"]);

    /// <summary>The tutorial's two tasks: digit and parity.</summary>
    public static IReadOnlyList<TaskDefinition> DigitAndParity { get; } = [Digit, Parity];

    /// <summary>Greater than 4: 0 = 0-4, 1 = 5-9.</summary>
    public static TaskDefinition GreaterThanFour { get; } = new("gt4", 2, d => d > 4 ? 1 : 0, ["0-4", "5-9"]);

    /// <summary>Prime: 1 for 2, 3, 5 and 7.</summary>
    public static TaskDefinition Prime { get; } = new("prime", 2, d => d is 2 or 3 or 5 or 7 ? 1 : 0, ["not prime", "prime"]);

    /// <summary>The digit modulo 3.</summary>
    public static TaskDefinition Mod3 { get; } = new("mod3", 3, d => d % 3);

    /// <summary>Drawn with a closed loop: 1 for 0, 6, 8 and 9.</summary>
    public static TaskDefinition Loop { get; } = new("loop", 2, d => d is 0 or 6 or 8 or 9 ? 1 : 0, ["no loop", "loop"]);

    /// <summary>The tasks known by name (for <c>--task</c>, and so that a saved model can name its heads).</summary>
    public static IReadOnlyList<TaskDefinition> BuiltIn { get; } = [Digit, Parity, GreaterThanFour, Prime, Mod3, Loop];

    /// <summary>The class head of a dataset other than MNIST digits: one class per name, the label is the class index.</summary>
    public static TaskDefinition Classes(IReadOnlyList<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        if (names.Count < 2) throw new ArgumentException("A class head needs at least two classes.", nameof(names));
        return new TaskDefinition(ClassTaskName, names.Count, d => d, names);
    }

    /// <summary>Name of the head built by <see cref="Classes"/>.</summary>
    public const string ClassTaskName = "class";

    /// <summary>The built-in task called <paramref name="name"/>, or null.</summary>
    public static TaskDefinition? Find(string name) => BuiltIn.FirstOrDefault(t => t.Name == name);

    /// <summary>Display name of class <paramref name="label"/>.</summary>
    public string ClassName(int label) => ClassNames is { } names && label < names.Count ? names[label] : label.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
