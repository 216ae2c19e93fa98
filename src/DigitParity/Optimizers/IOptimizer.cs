using DigitParity.Engine;
using DigitParity.Model;

namespace DigitParity.Optimizers;

/// <summary>An optimizer the trainer drives: one <see cref="BeginStep"/> per step, then updates tensor by tensor.</summary>
internal interface IOptimizer : IParameterUpdate
{
    /// <summary>η of the coming step (schedules set it before each step).</summary>
    float LearningRate { get; set; }

    /// <summary>Called once before each step's updates.</summary>
    void BeginStep();

    /// <summary>The optimizer's state buffers, each laid out like the parameters, by a short name (checkpoints save them).</summary>
    IReadOnlyList<(string Name, FloatBuffer Buffer)> State { get; }

    /// <summary>Steps taken so far (Adam's bias correction depends on it; saved with the state).</summary>
    long Steps { get; set; }
}
