using System.Text.Json.Nodes;

namespace DigitParity.Inference;

/// <summary>
/// The JSON shape of a prediction, shared by <c>predict --json</c> and the web API:
/// <c>{"heads_agree": true, "tasks": {"digit": {"label": 7, "name": "7", "probabilities": [...]}, ...}}</c>.
/// </summary>
internal static class PredictionJson
{
    /// <summary>The prediction as a JSON object; tasks keep the head order.</summary>
    public static JsonObject ToJson(Prediction prediction)
    {
        ArgumentNullException.ThrowIfNull(prediction);
        var tasks = new JsonObject();
        foreach (var task in prediction.Tasks)
        {
            tasks[task.Task] = new JsonObject
            {
                ["label"] = task.Label,
                ["name"] = task.Name,
                ["answer"] = task.Answer,
                ["answer_name"] = task.AnswerName,
                ["probabilities"] = new JsonArray(task.Probabilities.Select(p => (JsonNode?)JsonValue.Create(p)).ToArray()),
            };
        }
        return new JsonObject { ["rejected"] = prediction.Rejected, ["score"] = prediction.Score, ["heads_agree"] = prediction.HeadsAgree, ["tasks"] = tasks };
    }
}
