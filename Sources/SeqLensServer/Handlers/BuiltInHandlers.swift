/// Every method the daemon answers besides the lifecycle (`initialize`, `shutdown`), which the
/// server handles itself. One line per method.
let builtInHandlers: [AnyMethodHandler] = [
    AnyMethodHandler(ModelLoadHandler()),
    AnyMethodHandler(ModelUnloadHandler()),
    AnyMethodHandler(ModelListHandler()),
    AnyMethodHandler(ServerStatusHandler()),
    AnyMethodHandler(TokenizeHandler()),
    AnyMethodHandler(DetokenizeHandler()),
    AnyMethodHandler(GenerateHandler()),
    AnyMethodHandler(AttributeHandler()),
    AnyMethodHandler(InspectActivationsHandler()),
    AnyMethodHandler(InspectLogitLensHandler()),
    AnyMethodHandler(InspectPatchHandler()),
    AnyMethodHandler(InspectAblateHandler()),
]
