/// `namespace(...)`: the one object a template may mutate, so that loops can carry state out.
final class TemplateNamespace {
    var attributes = OrderedDictionary()
    init(_ attributes: OrderedDictionary) { self.attributes = attributes }
}
