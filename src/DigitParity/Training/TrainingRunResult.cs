using DigitParity.Metrics;
using DigitParity.Model;

namespace DigitParity.Training;

/// <summary>What a finished <see cref="TrainingRun"/> produced.</summary>
/// <param name="Network">The trained network (the weight average, when one was kept).</param>
/// <param name="Epochs">The epochs this run trained, in order (a resumed run starts after the checkpoint's).</param>
/// <param name="Test">The test set's figures, evaluated once at the end, when a validation split was held out; else null.</param>
/// <param name="Files">The files and directories written, in the order they were last written.</param>
public sealed record TrainingRunResult(MultiTaskNetwork Network, IReadOnlyList<EpochResult> Epochs, MetricsSnapshot? Test, IReadOnlyList<WrittenFile> Files);

/// <summary>One output of a run.</summary>
/// <param name="Kind">What it is.</param>
/// <param name="Path">Where it is (a directory for checkpoints and reports).</param>
public sealed record WrittenFile(WrittenFileKind Kind, string Path);

/// <summary>The outputs a run can write.</summary>
public enum WrittenFileKind
{
    /// <summary>The per-epoch metrics JSON.</summary>
    Metrics,

    /// <summary>The checkpoint directory (last.safetensors, best.safetensors).</summary>
    Checkpoints,

    /// <summary>The final model.</summary>
    Model,

    /// <summary>The report directory; its page is report.html.</summary>
    Report,
}
