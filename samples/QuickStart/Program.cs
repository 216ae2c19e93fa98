// Trains the tutorial's network for one epoch on the MNIST files the DigitParity package carries, saves it, loads
// it back and predicts a PNG.   dotnet run -- [IMAGE] [MODEL]
using DigitParity.Checkpoints;
using DigitParity.Inference;
using DigitParity.Training;

string image = args.Length > 0 ? args[0] : Path.Combine(AppContext.BaseDirectory, "seven.png");
string model = args.Length > 1 ? args[1] : "quickstart.safetensors";

using (var run = TrainingRun.Prepare(new TrainingRunOptions { Training = new TrainingOptions { Epochs = 1 }, ModelFile = model }))
{
    var test = run.Run().Epochs[^1].Validation;
    Console.WriteLine($"Trained 1 epoch: digit {test["digit"].Accuracy:P2}, parity {test["parity"].Accuracy:P2} on the test set; saved {model}");
}

var loaded = Checkpoint.Load(model);
using var predictor = new Predictor(loaded.Network);
var prediction = predictor.PredictImage(image);
Console.WriteLine($"{Path.GetFileName(image)}: digit {prediction["digit"].Name} ({prediction["digit"].Confidence:P1}), {prediction["parity"].Name}");
